/**
 * One orchestration run through the task hub stand-in (`task-hub.ts`), with scripted activities: what most
 * orchestration tests need. The run is read back as its execution, with its children's.
 */
import type { OrchestrationHandler } from 'durable-functions';
import { type ActivityHandler, type Call, type Execution, type HubOptions, TaskHub } from './task-hub';

export type { Call, RetryOptionsShape } from './task-hub';

/** An activity's behaviour: its result, or a throw (an activity that threw: Durable retries it). */
export type ActivityScript = (input: any, attempt: number) => unknown;

export interface Scenario {
  readonly activities: Readonly<Record<string, ActivityScript>>;
  /** Orchestrators that may run as sub-orchestrations. */
  readonly orchestrators?: Readonly<Record<string, OrchestrationHandler>>;
  /** A sub-orchestration the runtime itself fails (say, its instance id is taken): the reason, or undefined. */
  readonly failSubOrchestration?: (instanceId: string) => string | undefined;
  readonly seed?: number;
  readonly batching?: HubOptions['batching'];
}

export interface Run {
  readonly instanceId: string;
  readonly runtimeStatus: Execution['runtimeStatus'];
  readonly output?: any;
  readonly error?: string;
  /** The custom status after each episode, in order; the last is what the status API would show. */
  readonly customStatuses: readonly any[];
  readonly maxCustomStatusBytes: number;
  /** Every activity attempt and sub-orchestration start, in the order the orchestration made them. */
  readonly calls: readonly Call[];
  /** The most sub-orchestrations running at once. */
  readonly maxConcurrentSubOrchestrations: number;
  readonly children: ReadonlyMap<string, Run>;
  readonly episodes: number;
  readonly input: unknown;
  /** Earlier executions of the same id that continued as new into this one, oldest first. */
  readonly continuedFrom: readonly Execution[];
}

export function scriptsAsActivities(
  scripts: Readonly<Record<string, ActivityScript>>,
): Record<string, ActivityHandler> {
  return Object.fromEntries(
    Object.entries(scripts).map(([name, script]) => [name, (input: unknown, call) => script(input, call.attempt)]),
  ) as Record<string, ActivityHandler>;
}

export async function runOrchestration(
  name: string,
  handler: OrchestrationHandler,
  input: unknown,
  scenario: Scenario,
  options: { instanceId?: string; start?: Date } = {},
): Promise<Run> {
  const instanceId = options.instanceId ?? `${name}-test`;
  const hub = new TaskHub({
    orchestrators: { ...scenario.orchestrators, [name]: handler },
    activities: scriptsAsActivities(scenario.activities),
    ...(scenario.failSubOrchestration ? { failSubOrchestration: scenario.failSubOrchestration } : {}),
    ...(scenario.seed !== undefined ? { seed: scenario.seed } : {}),
    ...(scenario.batching ? { batching: scenario.batching } : {}),
    ...(options.start ? { start: options.start } : {}),
  });
  hub.startNew(name, instanceId, input);
  await hub.run();
  return runOf(hub, instanceId);
}

/** An instance's current execution as a Run, its children read back from the hub. */
export function runOf(hub: TaskHub, instanceId: string): Run {
  const execution = hub.execution(instanceId);
  if (!execution) throw new Error(`no instance ${instanceId}`);
  const children = new Map<string, Run>();
  for (const call of execution.calls) {
    if (call.kind === 'subOrchestration' && call.instanceId && hub.execution(call.instanceId)) {
      children.set(call.instanceId, runOf(hub, call.instanceId));
    }
  }
  return {
    instanceId,
    runtimeStatus: execution.runtimeStatus,
    output: execution.output,
    ...(execution.error !== undefined ? { error: execution.error } : {}),
    customStatuses: execution.customStatuses,
    maxCustomStatusBytes: execution.maxCustomStatusBytes,
    calls: execution.calls,
    maxConcurrentSubOrchestrations: execution.maxConcurrentChildren,
    children,
    episodes: execution.episodes,
    input: execution.input,
    continuedFrom: hub.executions.filter(
      (earlier) => earlier.instanceId === instanceId && earlier.runtimeStatus === 'ContinuedAsNew',
    ),
  };
}
