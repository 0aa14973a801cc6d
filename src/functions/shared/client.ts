import type { DurableClient, DurableOrchestrationStatus } from 'durable-functions';
import { describeError } from '../../common/errors';
import { isActive, startDecision } from '../../schedule/instances';
import type { InstanceStatus } from '../../schedule/run-status';

/** The part of the durable client the starters use: small enough for tests to stand in for. */
export type RunsClient = Pick<DurableClient, 'getStatus' | 'getStatusBy' | 'startNew'>;

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

/** The instance's status, or undefined when the task hub has no such instance (the client throws a 404 then). */
export async function findInstance(
  client: RunsClient,
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
  client: RunsClient,
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
