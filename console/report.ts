import type { BatchStore } from '../store/batches/batchStore';
import { missionUsage } from '../jobs/mission';
import type { ConsoleReader } from './reader';
import type { ConsoleRenderer, PageContext } from './render';
import { missionModel } from './missionPages';

/**
 * The batch page and every mission's trace as one HTML file with its styles, scripts and data inside: it opens
 * from disk with no server, so a CI job keeps it as an artifact. Nothing in it is live and it has no forms.
 */
export async function batchReportHtml(
  { reader, batches, renderer }: { reader: ConsoleReader; batches: BatchStore; renderer: ConsoleRenderer },
  tenantId: string,
  batchId: string,
): Promise<string | undefined> {
  const batch = await batches.summary(tenantId, batchId);
  if (!batch) return undefined;
  const [report, traces] = await Promise.all([batches.report(batchId), reader.batchTraces(batchId)]);
  const page: PageContext = { now: Date.now(), inline: renderer.inlineAssets() };
  const missions = traces.map(({ mission }) => ({
    id: mission.id,
    custom_id: mission.custom_id,
    goal: mission.goal,
    status: mission.status,
    duration_ms: mission.started_at && mission.finished_at ? mission.finished_at.getTime() - mission.started_at.getTime() : null,
    tokens: missionUsage(mission).input_tokens + missionUsage(mission).output_tokens,
    cost_usd: missionUsage(mission).cost_usd,
  }));
  return renderer.render('report', page, {
    title: `Batch ${batchId}`,
    batch,
    report,
    missions,
    traces: traces.map((trace) => missionModel(trace, page)),
  });
}
