import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Figure, Target } from './stats';

const number = (value: number) => (Number.isInteger(value) ? value.toLocaleString('en-US') : String(Math.round(value * 1_000) / 1_000));

function describe(target: Target | undefined, unit: string): string {
  if (!target) return '';
  const bound = target.atLeast !== undefined ? `≥ ${number(target.atLeast)}` : `≤ ${number(target.atMost!)}`;
  return target.on === 'ratio' ? `${bound} × baseline` : `${bound} ${unit}`;
}

function meets(figure: Figure, ratio: number | undefined): string {
  const { target } = figure;
  if (!target) return '';
  const measured = target.on === 'ratio' ? ratio : figure.value;
  if (measured === undefined) return '?';
  const met = (target.atLeast === undefined || measured >= target.atLeast) && (target.atMost === undefined || measured <= target.atMost);
  return met ? 'yes' : 'no';
}

/** One row per headline figure of each benchmark's result file: figure, target, same-run baseline, ratio. */
export function figureTable(benchmarks: readonly string[]): string {
  const rows = [['benchmark', 'figure', 'measured', 'target', 'met', 'same-run baseline', 'ratio']];
  for (const benchmark of benchmarks) {
    const { figures } = JSON.parse(readFileSync(join(__dirname, 'results', `${benchmark}.json`), 'utf8')) as { figures?: Figure[] };
    for (const figure of figures ?? []) {
      const ratio = figure.baseline ? Math.round((figure.value / figure.baseline.value) * 100) / 100 : undefined;
      rows.push([
        benchmark,
        figure.name,
        `${number(figure.value)} ${figure.unit}`,
        describe(figure.target, figure.unit),
        meets(figure, ratio),
        figure.baseline ? `${figure.baseline.name}: ${number(figure.baseline.value)} ${figure.unit}` : '',
        ratio === undefined ? '' : String(ratio),
      ]);
    }
  }
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const line = (row: string[]) => `| ${row.map((cell, column) => cell.padEnd(widths[column]!)).join(' | ')} |`;
  return [line(rows[0]!), line(widths.map((width) => '-'.repeat(width))), ...rows.slice(1).map(line)].join('\n');
}
