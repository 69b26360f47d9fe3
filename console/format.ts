/** How the console writes numbers, times and untrusted text. Every function returns plain text; templates escape it. */

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes} min ${Math.round((ms % 60_000) / 1_000)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export const count = (value: number | null | undefined) => (value === null || value === undefined ? '—' : Math.round(value).toLocaleString('en-US'));

export function cost(usd: number | null | undefined): string {
  if (usd === null || usd === undefined) return '—';
  if (usd === 0) return '$0';
  return usd < 0.01 ? `$${usd.toPrecision(2)}` : `$${usd.toFixed(usd < 10 ? 4 : 2)}`;
}

/** A time in UTC, to the second. */
export const time = (date: Date | string | null | undefined) => (date ? new Date(date).toISOString().replace('T', ' ').slice(0, 19) + 'Z' : '—');

export const shortId = (id: string | null | undefined) => (id ? id.slice(-12) : '—');

/** "1 mission", "3 missions". */
export const plural = (n: number, noun: string) => `${count(n)} ${noun}${n === 1 ? '' : 's'}`;

export const percent = (part: number, whole: number) => (whole > 0 ? `${((100 * part) / whole).toFixed(1)}%` : '—');

// C0 controls but newline and tab, and DEL: shown as their Unicode pictures, so ANSI escapes and stray bytes read
// as what they are and cannot restyle the page or the terminal a report is viewed in.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/g;
const picture = (char: string) => (char === '\u007f' ? '\u2421' : String.fromCharCode(0x2400 + char.charCodeAt(0)));

/** Untrusted text made visible: control characters as pictures, cut at `max` characters (saying so). */
export function visible(text: unknown, max = 100_000): string {
  const value = typeof text === 'string' ? text : text === null || text === undefined ? '' : JSON.stringify(text, null, 2);
  const shown = value.length > max ? `${value.slice(0, max)}\n… ${count(value.length - max)} more characters not shown here` : value;
  return shown.replace(CONTROL, picture);
}

/** JSON for a `<script type="application/json">` block: nothing in it can end the block or start markup. */
export const jsonScript = (value: unknown) =>
  JSON.stringify(value).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');

/** A score or a difference of scores, to three places. */
export const score = (value: number | null | undefined) => (value === null || value === undefined || !Number.isFinite(value) ? '—' : value.toFixed(3));
