/** A line on stdout, where only results go (progress and problems go to stderr). */
export const out = (line: string) => process.stdout.write(`${line}\n`);

/** A value as indented JSON on stdout, for --json. */
export const json = (value: unknown) => out(JSON.stringify(value, null, 2));
