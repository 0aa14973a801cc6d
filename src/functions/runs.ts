import * as df from 'durable-functions';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { InputError } from '../common/errors';
import type { LedgerRecord, RunLedger } from '../pipeline/ledger';
import { appLedger } from '../run/app';
import { INSTANCE_ID_PATTERN, isActive, parseInstanceId, unitInstanceId } from '../schedule/instances';
import { LIST_LOOKBACK_DAYS, type ListQuery, parseListQuery } from '../schedule/list-query';
import {
  type InstanceStatus,
  describeRun,
  listEntry,
  plannedUnits,
  unitPage,
  unitStateOf,
} from '../schedule/run-status';
import { type RunsClient, collectInstances, findInstance, mapLimited, taskHubClient } from './shared/client';
import { badRequest, json, serverError } from './shared/http';

export const GET_RUN = 'getRun';
export const LIST_RUNS = 'listRuns';
export const TERMINATE_RUN = 'terminateRun';

const DAY_MS = 86_400_000;
/** Status look-ups made at once for a backfill's units. */
const LOOKUPS_AT_ONCE = 8;
/** A list reads at most this many instances of the lookback period (without inputs), newest kept. */
export const MAX_LISTED = 5_000;

function checkedInstanceId(request: HttpRequest): string | HttpResponseInit {
  const instanceId = request.params.instanceId ?? '';
  if (INSTANCE_ID_PATTERN.test(instanceId)) return instanceId;
  return badRequest(
    new InputError('instanceId', `instanceId "${instanceId}" is not an instance id (letters, digits, - and _)`),
  );
}

const notFound = (instanceId: string) =>
  json(404, { error: { field: 'instanceId', message: `there is no run "${instanceId}"` } });

/** Where a run's ledger records are read and written (the stage the app settings name), and its clock. */
export interface RunsDeps {
  readonly ledger: RunLedger;
  readonly now: () => Date;
}

/**
 * `GET /api/runs/{instanceId}`: runtime status, window, step, counts and error; for a backfill also a page of its
 * units (100 at a time in plan order, `?unitOffset=` for the next), each with its verdict from the run ledger
 * (`completed`, `stale`, `failed`), or, not yet recorded, where its own instance is (`pending`, `staging`,
 * `staged`, `failed`): one ledger listing and at most 100 instance look-ups per answer.
 */
export async function handleGetRun(
  request: HttpRequest,
  client: RunsClient,
  deps: Pick<RunsDeps, 'ledger'>,
): Promise<HttpResponseInit> {
  const instanceId = checkedInstanceId(request);
  if (typeof instanceId !== 'string') return instanceId;
  const offsetText = request.query.get('unitOffset') ?? '0';
  if (!/^\d{1,7}$/.test(offsetText)) {
    return badRequest(new InputError('unitOffset', `unitOffset "${offsetText}" must be a whole number from 0`));
  }
  const status = await findInstance(client, instanceId, { showInput: true });
  if (status === undefined) return notFound(instanceId);
  const answer = describeRun(status);
  if (answer.kind !== 'backfill' || answer.dataset === null) return json(200, answer);
  const { units, page } = unitPage(status, await deps.ledger.entries(answer.dataset), Number(offsetText));
  const located = await mapLimited(units, LOOKUPS_AT_ONCE, async ({ recorded, ...unit }) =>
    recorded ? unit : { ...unit, status: unitStateOf(await findInstance(client, unit.instanceId)) },
  );
  return json(200, { ...answer, units: located, unitPage: page });
}

/**
 * `GET /api/runs?dataset=&status=&kind=&top=`: recent runs, newest first, from the last few weeks only, read a
 * page at a time without inputs.
 */
export async function handleListRuns(
  request: HttpRequest,
  client: RunsClient,
  now: () => Date,
): Promise<HttpResponseInit> {
  let query: ListQuery;
  try {
    query = parseListQuery(request.query);
  } catch (error) {
    if (error instanceof InputError) return badRequest(error);
    throw error;
  }
  const { instances, complete } = await collectInstances(
    client,
    {
      createdTimeFrom: new Date(now().getTime() - LIST_LOOKBACK_DAYS * DAY_MS),
      ...(query.status ? { runtimeStatus: [query.status] } : {}),
    },
    { max: MAX_LISTED },
  );
  const runs = instances
    .map(listEntry)
    .filter(
      (run) =>
        (query.dataset === undefined || run.dataset === query.dataset) &&
        (query.kind === undefined || run.kind === query.kind),
    )
    .sort((a, b) => b.createdTime.localeCompare(a.createdTime))
    .slice(0, query.top);
  return json(200, {
    runs,
    top: query.top,
    lookbackDays: LIST_LOOKBACK_DAYS,
    ...(complete ? {} : { truncated: true }),
  });
}

/**
 * `POST /api/runs/{instanceId}/terminate`: stops a window, a unit or a backfill and the units of it still
 * running (terminating an orchestration does not stop its sub-orchestrations). The backfill goes first, so no
 * unit's end reaches it; an activity already running finishes its step, and its result is dropped. Each window
 * it stopped before its verdict (the window, or every unit of the backfill not yet recorded) gets a `failed`
 * ledger record saying so, so the healing schedule and a `failed` backfill redo it.
 */
export async function handleTerminateRun(
  request: HttpRequest,
  client: RunsClient,
  deps: RunsDeps,
): Promise<HttpResponseInit> {
  const instanceId = checkedInstanceId(request);
  if (typeof instanceId !== 'string') return instanceId;
  const status = await findInstance(client, instanceId, { showInput: true });
  if (status === undefined) return notFound(instanceId);
  if (!isActive(status.runtimeStatus)) {
    return json(409, {
      error: { message: `the run is ${status.runtimeStatus.toLowerCase()}, not running: there is nothing to stop` },
      instanceId,
      runtimeStatus: status.runtimeStatus,
    });
  }
  const reason = 'terminated through POST /api/runs/{instanceId}/terminate';
  await client.terminate(instanceId, reason);
  const units = await runningUnits(client, status);
  await mapLimited(units, LOOKUPS_AT_ONCE, (unit) => client.terminate(unit, reason));
  const recorded = await recordTerminated(status, deps, reason);
  return json(202, { instanceId, terminated: [instanceId, ...units], recordedFailed: recorded });
}

/** A backfill's units that are running now: its plan's, looked up one by one. */
async function runningUnits(client: RunsClient, backfill: InstanceStatus): Promise<string[]> {
  if (parseInstanceId(backfill.instanceId)?.kind !== 'backfill') return [];
  const ids = plannedUnits(backfill).map((unit) => unitInstanceId(backfill.instanceId, unit));
  const statuses = await mapLimited(ids, LOOKUPS_AT_ONCE, (id) => findInstance(client, id));
  return ids.filter((_, index) => {
    const unit = statuses[index];
    return unit !== undefined && isActive(unit.runtimeStatus);
  });
}

/**
 * `failed` ledger records for the windows a terminated run leaves without a verdict: a window or unit itself, or
 * each unit of a backfill's plan with no record of it since the backfill was created. Returns how many.
 */
async function recordTerminated(status: InstanceStatus, deps: RunsDeps, reason: string): Promise<number> {
  const parsed = parseInstanceId(status.instanceId);
  if (parsed === undefined) return 0;
  const created = new Date(status.createdTime).toISOString();
  const runs =
    parsed.kind === 'backfill'
      ? plannedUnits(status).map((window) => ({ window, instanceId: unitInstanceId(status.instanceId, window) }))
      : [{ window: parsed.window, instanceId: status.instanceId }];
  const reported = new Set(
    (await deps.ledger.entries(parsed.dataset))
      .filter((entry) => entry.finishedAt >= created)
      .map((entry) => entry.instanceId),
  );
  const finishedAt = deps.now().toISOString();
  const records: LedgerRecord[] = runs
    .filter((run) => !reported.has(run.instanceId))
    .map((run) => ({
      dataset: parsed.dataset,
      window: run.window,
      status: 'failed',
      fetched: 0,
      staged: 0,
      quarantined: 0,
      rowsInWindow: 0,
      instanceId: run.instanceId,
      error: { kind: 'terminal', message: reason },
      finishedAt,
    }));
  await deps.ledger.record(records);
  return records.length;
}

df.app.client.http(GET_RUN, {
  route: 'runs/{instanceId}',
  methods: ['GET'],
  authLevel: 'function',
  handler: (request: HttpRequest, client: df.DurableClient, context: InvocationContext) =>
    handleGetRun(request, taskHubClient(client, context), {
      ledger: appLedger((message) => context.log(message)),
    }).catch(serverError(context, 'reading the run')),
});

df.app.client.http(LIST_RUNS, {
  route: 'runs',
  methods: ['GET'],
  authLevel: 'function',
  handler: (request: HttpRequest, client: df.DurableClient, context: InvocationContext) =>
    handleListRuns(request, taskHubClient(client, context), () => new Date()).catch(
      serverError(context, 'listing runs'),
    ),
});

df.app.client.http(TERMINATE_RUN, {
  route: 'runs/{instanceId}/terminate',
  methods: ['POST'],
  authLevel: 'function',
  handler: (request: HttpRequest, client: df.DurableClient, context: InvocationContext) =>
    handleTerminateRun(request, taskHubClient(client, context), {
      ledger: appLedger((message) => context.log(message)),
      now: () => new Date(),
    }).catch(serverError(context, 'terminating the run')),
});
