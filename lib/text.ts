/**
 * Text that Postgres can store. It refuses NUL (U+0000) in `text` and `jsonb`, and unpaired UTF-16 surrogates
 * in `jsonb`; yet sandbox output is arbitrary bytes and a model's reply is any string. Client input is refused
 * when it holds either (see unstorablePaths); what the platform itself produces is made storable here.
 */

const REPLACEMENT = '\uFFFD';
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const lenientUtf8 = new TextDecoder('utf-8');

/** Whether Postgres can store the string as it is. */
export function isStorable(text: string): boolean {
  return text.isWellFormed() && !text.includes('\0');
}

/** The string with each NUL and each unpaired surrogate replaced by U+FFFD. */
export function storableString(text: string): string {
  return isStorable(text) ? text : text.toWellFormed().replaceAll('\0', REPLACEMENT);
}

/** Bytes as stored text: exact when they are UTF-8 without NUL. */
export interface StoredBytes {
  /** The bytes as UTF-8 text; when they are not exact text, each invalid sequence and each NUL shows as U+FFFD. */
  text: string;
  /** Present only when `text` is not exact: the bytes themselves. */
  base64?: string;
}

export function bytesToText(bytes: Uint8Array): StoredBytes {
  const exact = exactText(bytes);
  if (exact !== undefined) return { text: exact };
  return { text: lenientUtf8.decode(bytes).replaceAll('\0', REPLACEMENT), base64: Buffer.from(bytes).toString('base64') };
}

/** The bytes as a string when they are valid UTF-8 without NUL; undefined otherwise. */
export function exactText(bytes: Uint8Array): string | undefined {
  if (bytes.includes(0)) return undefined;
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** Bytes cut at a limit may end inside a UTF-8 character: the length up to the last whole character. */
export function wholeCharacters(bytes: Uint8Array): number {
  let end = bytes.length;
  // Step back over at most three continuation bytes to the lead byte of the last character.
  let lead = end - 1;
  while (lead >= 0 && end - lead <= 3 && (bytes[lead]! & 0xc0) === 0x80) lead--;
  if (lead < 0) return end;
  const byte = bytes[lead]!;
  const width = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
  if (end - lead < width) end = lead;
  return end;
}

// JSON.stringify writes NUL as \u0000 and an unpaired surrogate as \udXXX (a pair is written as itself);
// an even run of backslashes before them means the escape is real, not text that reads "\u0000".
const UNSTORABLE_ESCAPE = /(?<!\\)((?:\\\\)*)\\u(?:0000|d[89a-f][0-9a-f]{2})/g;

/** JSON text of `value` that Postgres accepts as jsonb: NUL and unpaired surrogates become U+FFFD. */
export function storableJson(value: unknown): string {
  const json = JSON.stringify(value);
  return json.includes('\\u') ? json.replace(UNSTORABLE_ESCAPE, '$1\\ufffd') : json;
}

/** Where, inside a parsed JSON value, a string or an object key holds what Postgres cannot store. */
export function unstorablePaths(value: unknown, path: (string | number)[] = [], found: (string | number)[][] = []): (string | number)[][] {
  if (typeof value === 'string') {
    if (!isStorable(value)) found.push(path);
  } else if (Array.isArray(value)) {
    value.forEach((item, index) => unstorablePaths(item, [...path, index], found));
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      if (!isStorable(key)) found.push([...path, key]);
      unstorablePaths(item, [...path, key], found);
    }
  }
  return found;
}
