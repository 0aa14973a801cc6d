import * as df from 'durable-functions';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { InputError } from '../common/errors';
import { INSTANCE_ID_PATTERN } from '../schedule/instances';
import { LIST_LOOKBACK_DAYS, type ListQuery, parseListQuery } from '../schedule/list-query';
import { describeRun, listEntry } from '../schedule/run-status';
import { type RunsClient, findInstance, toInstanceStatus } from './shared/client';
import { badRequest, json, serverError } from './shared/http';

export const GET_RUN = 'getRun';
export const LIST_RUNS = 'listRuns';

const DAY_MS = 86_400_000;

/** `GET /api/runs/{instanceId}`: runtime status, window, step, counts, error and, for a backfill, every unit. */
export async function handleGetRun(request: HttpRequest, client: RunsClient): Promise<HttpResponseInit> {
  const instanceId = request.params.instanceId ?? '';
  if (!INSTANCE_ID_PATTERN.test(instanceId)) {
    return badRequest(
      new InputError('instanceId', `instanceId "${instanceId}" is not an instance id (letters, digits, - and _)`),
    );
  }
  const status = await findInstance(client, instanceId, { showInput: true });
  if (status === undefined)
    return json(404, { error: { field: 'instanceId', message: `there is no run "${instanceId}"` } });
  return json(200, describeRun(status));
}

/** `GET /api/runs?dataset=&status=&kind=&top=`: recent runs, newest first, read only from the last few weeks. */
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
  const statuses = await client.getStatusBy({
    createdTimeFrom: new Date(now().getTime() - LIST_LOOKBACK_DAYS * DAY_MS),
    ...(query.status ? { runtimeStatus: [df.OrchestrationRuntimeStatus[query.status]] } : {}),
  });
  const runs = statuses
    .map((status) => listEntry(toInstanceStatus(status)))
    .filter(
      (run) =>
        (query.dataset === undefined || run.dataset === query.dataset) &&
        (query.kind === undefined || run.kind === query.kind),
    )
    .sort((a, b) => b.createdTime.localeCompare(a.createdTime))
    .slice(0, query.top);
  return json(200, { runs, top: query.top, lookbackDays: LIST_LOOKBACK_DAYS });
}

df.app.client.http(GET_RUN, {
  route: 'runs/{instanceId}',
  methods: ['GET'],
  authLevel: 'function',
  handler: (request: HttpRequest, client: df.DurableClient, context: InvocationContext) =>
    handleGetRun(request, client).catch(serverError(context, 'reading the run')),
});

df.app.client.http(LIST_RUNS, {
  route: 'runs',
  methods: ['GET'],
  authLevel: 'function',
  handler: (request: HttpRequest, client: df.DurableClient, context: InvocationContext) =>
    handleListRuns(request, client, () => new Date()).catch(serverError(context, 'listing runs')),
});
