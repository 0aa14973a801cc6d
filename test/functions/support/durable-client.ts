/**
 * Stand-ins for the durable client. `StandInDurableClient` is an in-memory table of instances that answers
 * like the real client does: an unknown instance id makes `getStatus` throw the client's 404 error;
 * `startNew` records the start and, as the task hub with `NonRunningStates` does, refuses an id that is active
 * with the client's generic error; the list pages as the extension's list API does, without inputs.
 * `HubClient` is the same client over a running `TaskHub`, so a starter's starts really run.
 */
import type {
  DurableOrchestrationStatus,
  GetStatusOptions,
  PurgeHistoryResult,
  StartNewOptions,
} from 'durable-functions';
import type { InstancePage, InstanceQuery, RunsClient } from '../../../src/functions/shared/client';
import type { InstanceStatus } from '../../../src/schedule/run-status';
import type { TaskHub } from './task-hub';

export interface StoredInstance {
  readonly name: string;
  readonly runtimeStatus: string;
  readonly input?: unknown;
  readonly output?: unknown;
  readonly customStatus?: unknown;
  readonly createdTime?: string;
  readonly lastUpdatedTime?: string;
}

export class StandInDurableClient implements RunsClient {
  readonly instances = new Map<string, StoredInstance>();
  readonly starts: { name: string; instanceId: string; input: unknown }[] = [];
  readonly statusQueries: { instanceId: string; options?: GetStatusOptions }[] = [];
  readonly listQueries: { query: InstanceQuery; pageSize: number; continuationToken?: string }[] = [];
  readonly terminated: { instanceId: string; reason: string }[] = [];
  readonly purged: string[] = [];
  /** Runs just before a start is recorded: a test can let another start win the race here. */
  beforeStart?: (instanceId: string) => void;
  /** Makes every call fail, as when the task hub's storage is unreachable. */
  unavailable = false;

  set(instanceId: string, instance: StoredInstance): this {
    this.instances.set(instanceId, instance);
    return this;
  }

  async getStatus(instanceId: string, options?: GetStatusOptions): Promise<DurableOrchestrationStatus> {
    this.statusQueries.push({ instanceId, ...(options ? { options } : {}) });
    if (this.unavailable)
      throw new Error(
        'DurableClient error: the Durable Functions extension replied with an unexpected status code: 500',
      );
    const stored = this.instances.get(instanceId);
    if (!stored) {
      throw new Error(
        `DurableClient error: Durable Functions extension replied with HTTP 404 response. This usually means we could not find any data associated with the instanceId provided: ${instanceId}.`,
      );
    }
    return this.status(instanceId, stored, options?.showInput === true);
  }

  async listInstances(
    query: InstanceQuery,
    page: { pageSize: number; continuationToken?: string },
  ): Promise<InstancePage> {
    this.listQueries.push({ query, ...page });
    if (this.unavailable) throw new Error('listing instances failed with HTTP 500');
    const from = query.createdTimeFrom?.getTime() ?? -Infinity;
    const to = query.createdTimeTo?.getTime() ?? Infinity;
    const matching = [...this.instances.entries()]
      .filter(([, stored]) => {
        const created = Date.parse(stored.createdTime ?? '2026-01-01T00:00:00Z');
        return created >= from && created <= to;
      })
      .filter(([, stored]) => !query.runtimeStatus || query.runtimeStatus.includes(stored.runtimeStatus))
      .map(([instanceId, stored]) => this.listed(instanceId, stored));
    const offset = Number(page.continuationToken ?? 0);
    const instances = matching.slice(offset, offset + page.pageSize);
    const next = offset + page.pageSize;
    return next < matching.length ? { instances, continuationToken: String(next) } : { instances };
  }

  async terminate(instanceId: string, reason: string): Promise<void> {
    const stored = this.instances.get(instanceId);
    if (!stored) throw new Error(`No instance with ID '${instanceId}' found.`);
    this.terminated.push({ instanceId, reason });
    if (['Running', 'Pending', 'Suspended'].includes(stored.runtimeStatus)) {
      this.instances.set(instanceId, { ...stored, runtimeStatus: 'Terminated' });
    }
  }

  async purgeInstanceHistory(instanceId: string): Promise<PurgeHistoryResult> {
    this.purged.push(instanceId);
    const existed = this.instances.delete(instanceId);
    return { instancesDeleted: existed ? 1 : 0 };
  }

  /** What the list API answers for an instance: no input. */
  private listed(instanceId: string, stored: StoredInstance): InstanceStatus {
    return {
      instanceId,
      name: stored.name,
      runtimeStatus: stored.runtimeStatus,
      createdTime: stored.createdTime ?? '2026-01-01T00:00:00Z',
      lastUpdatedTime: stored.lastUpdatedTime ?? stored.createdTime ?? '2026-01-01T00:00:00Z',
      input: null,
      output: stored.output ?? null,
      customStatus: stored.customStatus,
    };
  }

  async startNew(name: string, options?: StartNewOptions): Promise<string> {
    const instanceId = options?.instanceId ?? 'generated';
    this.beforeStart?.(instanceId);
    const existing = this.instances.get(instanceId);
    if (existing && ['Running', 'Pending', 'ContinuedAsNew', 'Suspended'].includes(existing.runtimeStatus)) {
      throw new Error(
        'DurableClient error: the Durable Functions extension replied with an unexpected status code: 409',
      );
    }
    this.starts.push({ name, instanceId, input: options?.input });
    this.instances.set(instanceId, { name, runtimeStatus: 'Pending', input: options?.input });
    return instanceId;
  }

  private status(instanceId: string, stored: StoredInstance, showInput: boolean): DurableOrchestrationStatus {
    return {
      name: stored.name,
      instanceId,
      createdTime: new Date(stored.createdTime ?? '2026-01-01T00:00:00Z'),
      lastUpdatedTime: new Date(stored.lastUpdatedTime ?? stored.createdTime ?? '2026-01-01T00:00:00Z'),
      input: showInput ? stored.input : null,
      output: stored.output ?? null,
      runtimeStatus: stored.runtimeStatus,
      customStatus: stored.customStatus,
    } as unknown as DurableOrchestrationStatus;
  }
}

/** The durable client over a `TaskHub`: starts really run (on the hub's next `run()`), statuses are its own. */
export class HubClient implements RunsClient {
  readonly starts: { name: string; instanceId: string; input: unknown }[] = [];

  constructor(private readonly hub: TaskHub) {}

  async getStatus(instanceId: string): Promise<DurableOrchestrationStatus> {
    const execution = this.hub.execution(instanceId);
    if (!execution) {
      throw new Error(
        `DurableClient error: Durable Functions extension replied with HTTP 404 response: ${instanceId}.`,
      );
    }
    return {
      name: execution.name,
      instanceId,
      createdTime: execution.createdTime,
      lastUpdatedTime: execution.lastUpdatedTime,
      input: execution.input,
      output: execution.runtimeStatus === 'Failed' ? (execution.error ?? null) : (execution.output ?? null),
      runtimeStatus: execution.runtimeStatus,
      customStatus: execution.customStatus,
    } as unknown as DurableOrchestrationStatus;
  }

  async startNew(name: string, options?: StartNewOptions): Promise<string> {
    const instanceId = options?.instanceId ?? 'generated';
    this.hub.startNew(name, instanceId, options?.input);
    this.starts.push({ name, instanceId, input: options?.input });
    return instanceId;
  }

  async terminate(instanceId: string, reason: string): Promise<void> {
    this.hub.terminate(instanceId, reason);
  }

  async purgeInstanceHistory(): Promise<PurgeHistoryResult> {
    throw new Error('the hub client does not purge');
  }

  async listInstances(query: InstanceQuery): Promise<InstancePage> {
    const instances: InstanceStatus[] = [];
    for (const execution of new Set(this.hub.executions.map((e) => this.hub.execution(e.instanceId)))) {
      if (!execution) continue;
      if (query.runtimeStatus && !query.runtimeStatus.includes(execution.runtimeStatus)) continue;
      instances.push({
        instanceId: execution.instanceId,
        name: execution.name,
        runtimeStatus: execution.runtimeStatus,
        createdTime: execution.createdTime,
        lastUpdatedTime: execution.lastUpdatedTime,
        input: null,
        output: execution.output ?? null,
      });
    }
    return { instances };
  }
}
