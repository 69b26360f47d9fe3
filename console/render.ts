import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Eta } from 'eta';
import { projectRoot } from '../lib/config';
import type { Caller } from '../api/apiKeys';
import { cost, count, duration, jsonScript, percent, plural, score, shortId, time, visible } from './format';
import { describeStep } from './stepDisplay';

/** What every page knows of where it is shown: who looks (none in a report), the form token, inlined assets. */
export interface PageContext {
  caller?: Caller;
  tenantName?: string;
  csrf?: string;
  now: number;
  /** A report carries its styles and scripts inside itself. */
  inline?: { css: string; js: string };
}

const helpers = Object.freeze({ cost, count, duration, jsonScript, percent, plural, score, shortId, time, visible, describeStep });

/** The files the console serves at /console/assets/<name>, from this folder and from node_modules. */
export const ASSETS: Readonly<Record<string, string>> = Object.freeze({
  'console.css': join(projectRoot(), 'console', 'assets', 'console.css'),
  'console.js': join(projectRoot(), 'console', 'assets', 'console.js'),
  'htmx.min.js': require.resolve('htmx.org/dist/htmx.min.js'),
  'sse.js': require.resolve('htmx-ext-sse/dist/sse.js'),
  'uPlot.iife.min.js': require.resolve('uplot/dist/uPlot.iife.min.js'),
  'uPlot.min.css': require.resolve('uplot/dist/uPlot.min.css'),
});

/** Renders the console's templates; `<%= %>` escapes everything, and only templates write markup. */
export class ConsoleRenderer {
  private readonly eta = new Eta({ views: join(projectRoot(), 'console', 'templates'), cache: true, autoEscape: true });
  private inlined: { css: string; js: string } | undefined;

  render(template: string, page: PageContext, data: Record<string, unknown>): string {
    return this.eta.render(`./${template}`, { ...data, page, f: helpers });
  }

  /** The styles and scripts a report carries: the chart library and ours (no htmx: a report is not live). */
  inlineAssets(): { css: string; js: string } {
    const read = (name: string) => readFileSync(ASSETS[name]!, 'utf8');
    // Nothing in a script may end the element that holds it.
    this.inlined ??= {
      css: [read('uPlot.min.css'), read('console.css')].join('\n').replace(/<\/style/gi, '<\\/style'),
      js: [read('uPlot.iife.min.js'), read('console.js')].join('\n;\n').replace(/<\/script/gi, '<\\/script'),
    };
    return this.inlined;
  }
}
