/**
 * A stand-in for the durable client: an in-memory task hub that answers like the real client does. An unknown
 * instance id makes `getStatus` throw the client's 404 error; `startNew` records the start and, as the task
 * hub with `NonRunningStates` does, refuses an id that is active with the client's generic error.
 */
import type {
  DurableOrchestrationStatus,
  GetStatusOptions,
  OrchestrationFilter,
  StartNewOptions,
} from 'durable-functions';
import type { RunsClient } from '../../../src/functions/shared/client';

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
  readonly listFilters: OrchestrationFilter[] = [];
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

  async getStatusBy(filter: OrchestrationFilter): Promise<DurableOrchestrationStatus[]> {
    this.listFilters.push(filter);
    const from = filter.createdTimeFrom?.getTime() ?? 0;
    return [...this.instances.entries()]
      .filter(([, stored]) => Date.parse(stored.createdTime ?? '2026-01-01T00:00:00Z') >= from)
      .filter(([, stored]) => !filter.runtimeStatus || filter.runtimeStatus.map(String).includes(stored.runtimeStatus))
      .map(([instanceId, stored]) => {
        // The real list call returns the extension's JSON: dates as strings, no input.
        const status = this.status(instanceId, stored, false) as unknown as Record<string, unknown>;
        return {
          ...status,
          createdTime: stored.createdTime ?? '2026-01-01T00:00:00Z',
        } as unknown as DurableOrchestrationStatus;
      });
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
