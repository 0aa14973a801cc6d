import type { InvocationContext } from '@azure/functions';
import type { DurableClient, DurableOrchestrationStatus } from 'durable-functions';
import { describeError } from '../../common/errors';
import { isActive, startDecision } from '../../schedule/instances';
import type { InstanceStatus } from '../../schedule/run-status';

/** Which instances a list asks for: the task hub's own filters (created time and runtime status). */
export interface InstanceQuery {
  readonly createdTimeFrom?: Date;
  readonly createdTimeTo?: Date;
  readonly runtimeStatus?: readonly string[];
}

export interface InstancePage {
  readonly instances: readonly InstanceStatus[];
  /** Absent on the last page. */
  readonly continuationToken?: string;
}

/** The part of the task hub the functions use: small enough for tests to stand in for. */
export interface RunsClient extends Pick<
  DurableClient,
  'getStatus' | 'startNew' | 'terminate' | 'purgeInstanceHistory'
> {
  /** One page of instances matching the query, without their inputs. */
  listInstances(query: InstanceQuery, page: { pageSize: number; continuationToken?: string }): Promise<InstancePage>;
}

export function toInstanceStatus(status: DurableOrchestrationStatus): InstanceStatus {
  return {
    instanceId: status.instanceId,
    name: status.name,
    runtimeStatus: String(status.runtimeStatus),
    createdTime: status.createdTime,
    lastUpdatedTime: status.lastUpdatedTime,
    input: status.input,
    output: status.output,
    customStatus: status.customStatus,
  };
}

/**
 * The durable client, with a list that pages and leaves inputs out. durable-functions' `getStatusBy` cannot:
 * on the extension's local endpoint it never sends `showInput=false` (the extension's default is to include
 * inputs), and it reads every page into one array. So the list goes to the same endpoint the client uses
 * (`rpcBaseUrl`, from the durable client binding's data), one page per call, `showInput=false`.
 */
export function taskHubClient(client: DurableClient, context: InvocationContext): RunsClient {
  const rpcBaseUrl = durableClientData(context)?.rpcBaseUrl;
  return {
    getStatus: (instanceId, options) => client.getStatus(instanceId, options),
    startNew: (name, options) => client.startNew(name, options),
    terminate: (instanceId, reason) => client.terminate(instanceId, reason),
    purgeInstanceHistory: (instanceId) => client.purgeInstanceHistory(instanceId),
    listInstances: async (query, page) => {
      if (rpcBaseUrl === undefined) {
        throw new Error(
          'the durable client binding gave no rpcBaseUrl: this app needs the extension bundle [4.*, 5.0.0)',
        );
      }
      return listInstancesOver(fetch, rpcBaseUrl, query, page);
    },
  };
}

function durableClientData(context: InvocationContext): { rpcBaseUrl?: string } | undefined {
  const input = context.options.extraInputs.find((binding) => binding.type === 'durableClient');
  const data = input === undefined ? undefined : context.extraInputs.get(input);
  return typeof data === 'object' && data !== null ? data : undefined;
}

/** One page of the extension's `GET instances/` (the HTTP API the durable client speaks), without inputs. */
export async function listInstancesOver(
  fetchFn: typeof fetch,
  rpcBaseUrl: string,
  query: InstanceQuery,
  page: { pageSize: number; continuationToken?: string },
): Promise<InstancePage> {
  const url = new URL('instances/', rpcBaseUrl);
  if (query.createdTimeFrom) url.searchParams.set('createdTimeFrom', query.createdTimeFrom.toISOString());
  if (query.createdTimeTo) url.searchParams.set('createdTimeTo', query.createdTimeTo.toISOString());
  if (query.runtimeStatus?.length) url.searchParams.set('runtimeStatus', query.runtimeStatus.join(','));
  url.searchParams.set('showInput', 'false');
  url.searchParams.set('top', String(page.pageSize));
  const headers: Record<string, string> = page.continuationToken
    ? { 'x-ms-continuation-token': page.continuationToken }
    : {};
  const response = await fetchFn(url, { headers });
  if (response.status !== 200) {
    throw new Error(`listing instances failed with HTTP ${response.status}: ${(await response.text()).slice(0, 300)}`);
  }
  const body = await response.json();
  if (!Array.isArray(body)) throw new Error('listing instances answered something that is not a list');
  const token = response.headers.get('x-ms-continuation-token');
  const instances = body.map((status) => toInstanceStatus(status as DurableOrchestrationStatus));
  return token && token !== 'null' ? { instances, continuationToken: token } : { instances };
}

/**
 * Every instance matching the query, page by page, up to `max` of them: a list never holds more than that,
 * and says whether it stopped short.
 */
export async function collectInstances(
  client: RunsClient,
  query: InstanceQuery,
  limits: { max: number; pageSize?: number },
): Promise<{ instances: InstanceStatus[]; complete: boolean }> {
  const instances: InstanceStatus[] = [];
  let continuationToken: string | undefined;
  do {
    const page = await client.listInstances(query, {
      pageSize: limits.pageSize ?? 100,
      ...(continuationToken ? { continuationToken } : {}),
    });
    instances.push(...page.instances);
    continuationToken = page.continuationToken;
  } while (continuationToken !== undefined && instances.length < limits.max);
  return { instances: instances.slice(0, limits.max), complete: continuationToken === undefined };
}

/** The instance's status, or undefined when the task hub has no such instance (the client throws a 404 then). */
export async function findInstance(
  client: Pick<RunsClient, 'getStatus'>,
  instanceId: string,
  options: { showInput?: boolean } = {},
): Promise<InstanceStatus | undefined> {
  try {
    return toInstanceStatus(await client.getStatus(instanceId, options));
  } catch (error) {
    if (/\b404\b/.test(describeError(error))) return undefined;
    throw error;
  }
}

export type StartResult =
  | { readonly started: true; readonly reason: string }
  | { readonly started: false; readonly reason: string; readonly runtimeStatus: string };

/**
 * Starts an orchestration under a deterministic id unless a run with that id is active (or, without
 * `rerunCompleted`, already completed). The task hub refuses a start for an active id with a generic error;
 * when a start fails and the id is then active, another start won the race: that is "already running".
 */
export async function startOnce(
  client: Pick<RunsClient, 'getStatus' | 'startNew'>,
  orchestration: string,
  instanceId: string,
  input: unknown,
  rerunCompleted: boolean,
): Promise<StartResult> {
  const existing = await findInstance(client, instanceId);
  const decision = startDecision(existing?.runtimeStatus, rerunCompleted);
  if (!decision.start) return { started: false, reason: decision.reason, runtimeStatus: existing?.runtimeStatus ?? '' };
  try {
    await client.startNew(orchestration, { instanceId, input });
    return { started: true, reason: decision.reason };
  } catch (error) {
    const now = await findInstance(client, instanceId).catch(() => undefined);
    if (now !== undefined && isActive(now.runtimeStatus)) {
      return {
        started: false,
        reason: `already ${now.runtimeStatus.toLowerCase()} (another start won the race)`,
        runtimeStatus: now.runtimeStatus,
      };
    }
    throw error;
  }
}

/** `work` over every item, at most `limit` at a time, results in item order. */
export async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
