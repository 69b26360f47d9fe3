import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { missionSpecSchema } from '../jobs/mission';
import { CliError, EXIT } from './exitCodes';

/**
 * Missions read from a file, each with the line it starts on (and the directories its `files_dir` and
 * `scorer_files_dir` name, resolved from the file's own folder), and a hash of the file for idempotency keys.
 */
export interface MissionFile {
  name: string;
  missions: { line: number; mission: Record<string, unknown>; filesDir?: string; scorerFilesDir?: string }[];
  contentHash: string;
}

// The server's own schema checks each mission before anything is sent (its deadline limits are the server's to
// apply, so here they are wide).
const schema = missionSpecSchema({ defaultDeadlineS: 3_600, maxDeadlineS: 2_000_000 });

/**
 * Reads missions from a JSON array, one JSON object, or JSON Lines (one mission per line); `-` is stdin.
 * Any problem is exit 2 naming the line and the field, before anything is submitted. Each mission is named by a
 * custom_id, which results, retries and comparisons of runs go by: its own, else its `metadata.name`, else
 * `line-N` (`line-N.K` for the K-th of several on line N); two missions of a file may not have the same.
 */
export function readMissionFile(path: string): MissionFile {
  const name = path === '-' ? 'stdin' : path;
  let bytes: Buffer;
  try {
    bytes = readFileSync(path === '-' ? 0 : path);
  } catch (error) {
    throw new CliError(`cannot read ${name}: ${(error as Error).message}`, EXIT.usage);
  }
  const text = bytes.toString('utf8');
  const items = parseItems(name, text);
  if (items.length === 0) throw new CliError(`${name} holds no mission`, EXIT.usage);
  const onLine = new Map<number, number>();
  for (const { line } of items) onLine.set(line, (onLine.get(line) ?? 0) + 1);
  const seenOnLine = new Map<number, number>();
  const place = (line: number) => {
    const k = (seenOnLine.get(line) ?? 0) + 1;
    seenOnLine.set(line, k);
    return onLine.get(line)! > 1 ? `line-${line}.${k}` : `line-${line}`;
  };
  const missions = items.map(({ line, value: item }) => {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) throw new CliError(`${name} line ${line}: a mission must be a JSON object`, EXIT.usage);
    // files_dir and scorer_files_dir are the CLI's: directories packed and uploaded once, whose files the mission
    // starts with, and its command scorer unpacks only when scoring (hidden tests).
    const { files_dir: filesDir, scorer_files_dir: scorerFilesDir, ...value } = item as Record<string, unknown>;
    for (const [field, directory] of [['files_dir', filesDir], ['scorer_files_dir', scorerFilesDir]] as const) {
      if (directory !== undefined && (typeof directory !== 'string' || directory === '')) throw new CliError(`${name} line ${line}: ${field} must be a directory's path`, EXIT.usage);
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(mission)'}: ${issue.message}`).join('; ');
      throw new CliError(`${name} line ${line}: ${problems}`, EXIT.usage);
    }
    if (scorerFilesDir !== undefined && !(parsed.data.scorer && 'command' in parsed.data.scorer)) {
      throw new CliError(`${name} line ${line}: scorer_files_dir needs a command scorer ("scorer": {"command": ...}) to unpack it`, EXIT.usage);
    }
    const mission = { ...value, custom_id: customIdOf(parsed.data, place(line)) } as Record<string, unknown>;
    const from = (directory: unknown) => resolve(path === '-' ? '.' : dirname(path), directory as string);
    return { line, mission, ...(filesDir !== undefined && { filesDir: from(filesDir) }), ...(scorerFilesDir !== undefined && { scorerFilesDir: from(scorerFilesDir) }) };
  });
  const firstLineOf = new Map<unknown, number>();
  for (const { line, mission } of missions) {
    const first = firstLineOf.get(mission.custom_id);
    if (first !== undefined) {
      throw new CliError(`${name} line ${line}: custom_id "${String(mission.custom_id)}" is that of line ${first} already (a mission's custom_id, or else its metadata.name, names it once in a file)`, EXIT.usage);
    }
    firstLineOf.set(mission.custom_id, line);
  }
  return { name, missions, contentHash: createHash('sha256').update(bytes).digest('hex') };
}

function customIdOf(mission: { custom_id?: string; metadata: Record<string, unknown> }, place: string): string {
  const named = mission.metadata.name;
  return mission.custom_id ?? (typeof named === 'string' && named.length > 0 && named.length <= 128 ? named : place);
}

function parseItems(name: string, text: string): { line: number; value: unknown }[] {
  let whole: unknown;
  try {
    whole = JSON.parse(text);
  } catch {
    return parseLines(name, text);
  }
  if (!Array.isArray(whole)) return [{ line: firstLine(text), value: whole }];
  const lines = arrayItemLines(text);
  return whole.map((value, index) => ({ line: lines[index] ?? 1, value }));
}

/** JSON Lines: each non-empty line one mission. */
function parseLines(name: string, text: string): { line: number; value: unknown }[] {
  const items: { line: number; value: unknown }[] = [];
  text.split('\n').forEach((content, index) => {
    if (!content.trim()) return;
    try {
      items.push({ line: index + 1, value: JSON.parse(content) });
    } catch (error) {
      throw new CliError(`${name} line ${index + 1} is not JSON (${(error as Error).message}); a file is a JSON array, one JSON object, or one mission per line`, EXIT.usage);
    }
  });
  return items;
}

const firstLine = (text: string) => text.slice(0, text.search(/\S/)).split('\n').length;

/** The line each element of a top-level JSON array starts on (the text is valid JSON). */
function arrayItemLines(text: string): number[] {
  const lines: number[] = [];
  let line = 1;
  let depth = 0;
  let inString = false;
  let expectingValue = false;
  for (let at = 0; at < text.length; at++) {
    const char = text[at]!;
    if (char === '\n') line++;
    if (inString) {
      if (char === '\\') at++;
      else if (char === '"') inString = false;
      continue;
    }
    if (/\s/.test(char)) continue;
    if (depth === 1 && expectingValue && char !== ']') {
      lines.push(line);
      expectingValue = false;
    }
    if (char === '"') inString = true;
    else if (char === '[' || char === '{') {
      depth++;
      if (depth === 1) expectingValue = true;
    } else if (char === ']' || char === '}') depth--;
    else if (char === ',' && depth === 1) expectingValue = true;
  }
  return lines;
}
