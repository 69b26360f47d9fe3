// `missions`: the command line of mission-control, for people and CI pipelines (see `missions --help`).
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ApiClient } from './client';
import { batchCommands } from './batches';
import { commands } from './commands';
import { CliError, EXIT, EXIT_HELP } from './exitCodes';
import { keyCommands } from './keys';
import { submit } from './submit';
import { webhookCommands } from './webhooks';

/** The CLI's settings from the environment; flags override them. The only place the CLI reads process.env. */
const environment = { url: process.env.MISSIONS_URL ?? 'http://127.0.0.1:3000', apiKey: process.env.MISSIONS_API_KEY };

const positiveInteger = (value: string) => {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) throw new InvalidArgumentError('a whole number of 1 or more');
  return number;
};
const probability = (value: string) => {
  const number = Number(value);
  if (!(number > 0 && number < 1)) throw new InvalidArgumentError('a number between 0 and 1, such as 0.05');
  return number;
};
const seconds = (value: string) => {
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) throw new InvalidArgumentError('a number of seconds above 0');
  return number;
};

function program(run: (action: (client: ApiClient, asJson: boolean) => Promise<number>) => Promise<void>): Command {
  const cli = new Command('missions')
    .description('Submit, follow and steer mission-control missions.')
    .addOption(new Option('--url <url>', 'the API').default(environment.url, 'MISSIONS_URL or http://127.0.0.1:3000'))
    .addOption(new Option('--api-key <key>', 'your API key (better: MISSIONS_API_KEY); never printed'))
    .option('--json', 'print JSON only on stdout (progress goes to stderr)', false)
    .option('--verbose', 'print each request on stderr (never the key)', false)
    .addHelpText('after', `\n${EXIT_HELP}\n\nExamples:\n  missions submit missions.jsonl --wait --junit report.xml --report report.html\n  missions logs <mission id> --follow`)
    // Usage errors (an unknown option, a missing argument) are exit 2, like bad input; subcommands inherit this.
    .exitOverride((error: CommanderError) => {
      throw error.exitCode === 0 ? error : new CliError(error.message.replace(/^error: /, ''), EXIT.usage);
    })
    .configureOutput({ outputError: () => undefined });
  cli
    .command('submit')
    .description('submit the missions of a JSON array, JSON Lines or one JSON object (FILE or - for stdin)')
    .argument('<file>', 'the missions, or - for stdin')
    .option('--wait', 'follow the missions to their end and report each one', false)
    .option('--junit <file>', 'with --wait: write a JUnit XML report there')
    .option('--report <file>', "with --wait: write the batch's HTML report there (opens offline; keep it as a CI artifact)")
    .option('--timeout <seconds>', 'with --wait: stop waiting after this long (exit 4)', seconds)
    .option('--fail-fast', 'with --wait: cancel the rest once one mission fails', false)
    .option('--force', 'submit the file again as new missions (otherwise submitting the same file again creates nothing)', false)
    .option('--files <dir>', 'a directory every mission starts with in /workspace (a mission may name its own: files_dir, from the file\'s folder)')
    .option('--epochs <k>', 'run each mission k times (1-100), as k missions of one item: scores get an interval, pass@k', positiveInteger)
    .option('--batch-size <n>', 'missions per API batch', positiveInteger, 10_000)
    .option('--interval <seconds>', 'seconds between progress lines when not on a terminal', seconds, 10)
    .action((file: string, options) => run((client, asJson) => submit(client, file, { ...options, json: asJson })));
  cli.command('status').description("a mission's status, result or error").argument('<id>').action((id: string) => run((client, asJson) => commands(client, asJson).status(id)));
  cli
    .command('list')
    .description('your missions, newest first')
    .option('--status <status>', 'only missions in this status')
    .option('--batch <id>', 'only missions of this batch')
    .option('--limit <n>', 'missions per page', positiveInteger, 50)
    .option('--all', 'every page, not just the first', false)
    .action((options) => run((client, asJson) => commands(client, asJson).list(options)));
  cli
    .command('logs')
    .description("a mission's steps; --follow prints them as they happen until it ends (exit 1 if it did not succeed)")
    .argument('<id>')
    .option('-f, --follow', 'follow live', false)
    .action((id: string, options: { follow: boolean }) => run((client, asJson) => commands(client, asJson).logs(id, options.follow)));
  cli
    .command('artifacts')
    .description('the files a mission kept (its artifacts), written under a directory, each checked against its sha256')
    .argument('<id>')
    .requiredOption('-o, --output <dir>', 'the directory to write them under')
    .action((id: string, options: { output: string }) => run((client, asJson) => batchCommands(client, asJson).artifacts(id, options)));
  cli.command('cancel').description('cancel a mission (exit 1 if it had already ended)').argument('<id>').action((id: string) => run((client, asJson) => commands(client, asJson).cancel(id)));
  for (const decision of ['approve', 'reject'] as const) {
    cli
      .command(decision)
      .description(`${decision} the step a mission waits on`)
      .argument('<id>')
      .option('--reason <text>', 'why, recorded with the decision')
      .action((id: string, options: { reason?: string }) => run((client, asJson) => commands(client, asJson).decide(id, decision, options.reason)));
  }
  const batch = cli.command('batch').description('batches: show, results, cancel, retry, diff');
  batch
    .command('show', { isDefault: true })
    .description("a batch's status, its items by status, usage and durations (`missions batch <id>` for short)")
    .argument('<id>')
    .action((id: string) => run((client, asJson) => batchCommands(client, asJson).show(id)));
  batch
    .command('results')
    .description("the batch's results file: JSON Lines, one line per item in submission order")
    .argument('<id>')
    .option('-o, --output <file>', 'write it to this file, not stdout')
    .option('--status <statuses>', 'only items in these statuses (comma-separated, e.g. failed,timed_out)')
    .option('--all-attempts', 'every attempt of each item, not only its latest', false)
    .option('--artifacts <dir>', "also write each item's artifacts under DIR/<custom_id>/")
    .action((id: string, options) => run((client, asJson) => batchCommands(client, asJson).results(id, options)));
  batch
    .command('cancel')
    .description("cancel the batch's unfinished missions (exit 1 if it had already ended)")
    .argument('<id>')
    .action((id: string) => run((client, asJson) => batchCommands(client, asJson).cancel(id)));
  batch
    .command('retry')
    .description('run again only the items that failed or timed out (or --status, --error-code); succeeded ones never run twice')
    .argument('<id>')
    .option('--status <statuses>', 'retry items in these statuses (failed, timed_out, cancelled; comma-separated)')
    .option('--error-code <codes>', 'only items that failed with these error codes (comma-separated)')
    .option('--wait', 'follow the batch to its end (exit 1 if an item still has not succeeded)', false)
    .option('--timeout <seconds>', 'with --wait: stop waiting after this long (exit 4)', seconds)
    .option('--interval <seconds>', 'seconds between progress lines when not on a terminal', seconds, 10)
    .action((id: string, options) => run((client, asJson) => batchCommands(client, asJson).retry(id, options)));
  batch
    .command('diff')
    .description('how each item changed since another batch, paired by custom_id, and the mean score difference with its 95% interval: a CI gate on regressions')
    .argument('<batch>', 'this run')
    .argument('<earlier>', 'the run to compare with')
    .addOption(new Option('--fail-on <what>', 'exit 1 when any item broke, or only when the scores dropped beyond noise (a paired t-test)').choices(['any', 'significant']).default('any'))
    .option('--alpha <p>', 'with --fail-on significant: the p-value below which a drop counts', probability, 0.05)
    .action((here: string, there: string, options: { failOn: 'any' | 'significant'; alpha: number }) => run((client, asJson) => batchCommands(client, asJson).diff(here, there, options)));
  cli
    .command('report')
    .description("a batch's page and every mission's trace as one HTML file that opens offline (keep it as a CI artifact)")
    .argument('<batch>')
    .requiredOption('-o, --output <file>', 'the HTML file to write')
    .action((id: string, options: { output: string }) => run((client, asJson) => batchCommands(client, asJson).report(id, options)));
  const webhooks = cli.command('webhooks').description('signed webhooks for mission.ended and batch.ended');
  webhooks
    .command('add')
    .description('register an endpoint; prints its signing secret, the only time it is shown')
    .argument('<url>')
    .option('--events <events>', 'comma-separated: mission.ended, batch.ended', 'batch.ended')
    .option('--description <text>', 'what it is for')
    .action((url: string, options) => run((client, asJson) => webhookCommands(client, asJson).add(url, options)));
  webhooks.command('list').description('your endpoints').action(() => run((client, asJson) => webhookCommands(client, asJson).list()));
  webhooks
    .command('rm')
    .description('remove an endpoint and its deliveries')
    .argument('<id>')
    .action((id: string) => run((client, asJson) => webhookCommands(client, asJson).remove(id)));
  cli
    .command('tenants')
    .description('tenant administration (the admin key)')
    .command('create')
    .description('create a tenant and print its API key, the only time it is shown')
    .argument('<name>')
    .option('--rate-limit <per-minute>', 'its requests per minute', positiveInteger)
    .option('--allow-llm-base-url', 'let its missions name model URLs of their own', false)
    .action((name: string, options) => run((client, asJson) => commands(client, asJson).createTenant(name, options)));
  const keys = cli.command('admin').description('administration (the admin key)').command('keys').description("a tenant's API keys: rotate by create, switch, revoke");
  keys
    .command('create')
    .description('a new key for the tenant, printed the only time it is shown')
    .argument('<tenant-id>')
    .action((tenant: string) => run((client, asJson) => keyCommands(client, asJson).create(tenant)));
  keys
    .command('list')
    .description("the tenant's keys: created, last used, revoked (never the keys)")
    .argument('<tenant-id>')
    .action((tenant: string) => run((client, asJson) => keyCommands(client, asJson).list(tenant)));
  keys
    .command('revoke')
    .description('refuse the key everywhere within seconds, and end its sessions and streams')
    .argument('<tenant-id>')
    .argument('<key-id>')
    .action((tenant: string, keyId: string) => run((client, asJson) => keyCommands(client, asJson).revoke(tenant, keyId)));
  return cli;
}

async function main(): Promise<number> {
  let exitCode: number = EXIT.ok;
  const cli = program(async (action) => {
    const { url, apiKey, json, verbose } = cli.opts<{ url: string; apiKey?: string; json: boolean; verbose: boolean }>();
    const key = apiKey ?? environment.apiKey;
    if (!key) throw new CliError('no API key: set MISSIONS_API_KEY (or --api-key)', EXIT.usage);
    exitCode = await action(new ApiClient({ url, apiKey: key, verbose }), json);
  });
  try {
    await cli.parseAsync(process.argv);
  } catch (error) {
    if (error instanceof CommanderError && error.exitCode === 0) return EXIT.ok;
    if (!(error instanceof CliError)) throw error;
    process.stderr.write(`missions: ${error.message}\n`);
    return error.exitCode;
  }
  return exitCode;
}

main().then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    process.stderr.write(`missions: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exitCode = EXIT.server;
  },
);
