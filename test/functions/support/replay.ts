/**
 * Runs an orchestrator the way the Durable extension drives it, with durable-functions' own replay engine:
 * each episode replays the whole history through `createOrchestrator` (the wrapper `df.app.orchestration`
 * registers) and reads the actions it returns; this driver then plays the extension's part, appending the
 * events those actions produce (activity results, retry timers, sub-orchestration results) one at a time.
 *
 * Activities are scripted per test; sub-orchestrations run through this same driver. Sequence numbers follow
 * the engine's rule: every scheduled task takes the next id when yielded, and a retry takes one id for its
 * timer (when the attempt fails) and one for the next attempt (when the timer fires).
 */
import { DummyOrchestrationContext, type OrchestrationHandler } from 'durable-functions';
import { DurableOrchestrationInput, createOrchestrator } from 'durable-functions/lib/src/util/testingUtils';
import { ExecutionStartedEvent } from 'durable-functions/lib/src/history/ExecutionStartedEvent';
import { OrchestratorCompletedEvent } from 'durable-functions/lib/src/history/OrchestratorCompletedEvent';
import { OrchestratorStartedEvent } from 'durable-functions/lib/src/history/OrchestratorStartedEvent';
import { SubOrchestrationInstanceCompletedEvent } from 'durable-functions/lib/src/history/SubOrchestrationInstanceCompletedEvent';
import { SubOrchestrationInstanceCreatedEvent } from 'durable-functions/lib/src/history/SubOrchestrationInstanceCreatedEvent';
import { SubOrchestrationInstanceFailedEvent } from 'durable-functions/lib/src/history/SubOrchestrationInstanceFailedEvent';
import { TaskCompletedEvent } from 'durable-functions/lib/src/history/TaskCompletedEvent';
import { TaskFailedEvent } from 'durable-functions/lib/src/history/TaskFailedEvent';
import { TaskScheduledEvent } from 'durable-functions/lib/src/history/TaskScheduledEvent';
import { TimerCreatedEvent } from 'durable-functions/lib/src/history/TimerCreatedEvent';
import { TimerFiredEvent } from 'durable-functions/lib/src/history/TimerFiredEvent';

/** An activity's behaviour: its result, or a throw (an activity that threw: Durable retries it). */
export type ActivityScript = (input: any, attempt: number) => unknown;

export interface Scenario {
  readonly activities: Readonly<Record<string, ActivityScript>>;
  /** Orchestrators that may run as sub-orchestrations. */
  readonly orchestrators?: Readonly<Record<string, OrchestrationHandler>>;
  /** A sub-orchestration the runtime itself fails (say, its instance id is taken): the reason, or undefined. */
  readonly failSubOrchestration?: (instanceId: string) => string | undefined;
}

export interface RetryOptionsShape {
  readonly firstRetryIntervalInMilliseconds: number;
  readonly maxNumberOfAttempts: number;
  readonly backoffCoefficient?: number;
  readonly maxRetryIntervalInMilliseconds?: number;
}

export interface Call {
  readonly kind: 'activity' | 'subOrchestration';
  readonly name: string;
  readonly input: any;
  readonly episode: number;
  readonly attempt: number;
  readonly instanceId?: string;
  readonly retryOptions?: RetryOptionsShape;
}

export interface Run {
  readonly instanceId: string;
  readonly runtimeStatus: 'Completed' | 'Failed';
  readonly output?: any;
  readonly error?: string;
  /** The custom status after each episode, in order; the last is what the status API would show. */
  readonly customStatuses: readonly any[];
  /** Every activity attempt and sub-orchestration start, in the order the orchestration made them. */
  readonly calls: readonly Call[];
  /** The most sub-orchestrations running at once. */
  readonly maxConcurrentSubOrchestrations: number;
  readonly children: ReadonlyMap<string, Run>;
  readonly episodes: number;
}

interface Action {
  readonly actionType: number;
  readonly functionName: string;
  readonly input?: unknown;
  readonly instanceId?: string;
  readonly retryOptions?: RetryOptionsShape;
}

const CALL_ACTIVITY = 0;
const CALL_ACTIVITY_WITH_RETRY = 1;
const CALL_SUB_ORCHESTRATOR = 2;
const FAILURE_LABEL = '$OutOfProcData$:';
const EPISODE_MS = 60_000;
const MAX_EPISODES = 5_000;

interface Operation {
  readonly action: Action;
  readonly call: Call;
  taskId: number;
  attempt: number;
  timerId?: number;
  /** Produces the events of the operation's next step; true when nothing is left to do. */
  deliver(events: unknown[], at: Date): Promise<boolean>;
}

export async function runOrchestration(
  name: string,
  handler: OrchestrationHandler,
  input: unknown,
  scenario: Scenario,
  options: { instanceId?: string; start?: Date } = {},
): Promise<Run> {
  const instanceId = options.instanceId ?? `${name}-test`;
  let time = options.start ?? new Date('2026-11-23T12:00:00Z');
  const event = (extra: Record<string, unknown> = {}) => ({ eventId: -1, timestamp: time, isPlayed: false, ...extra });
  const history: unknown[] = [
    new OrchestratorStartedEvent(event()),
    new ExecutionStartedEvent(event({ name, input: JSON.stringify(input) })),
  ];
  const orchestrator = createOrchestrator(handler);
  const customStatuses: unknown[] = [];
  const calls: Call[] = [];
  const children = new Map<string, Run>();
  const waiting: Operation[] = [];
  let nextId = 0;
  let actionsSeen = 0;
  let maxConcurrent = 0;

  for (let episode = 1; episode <= MAX_EPISODES; episode++) {
    const state = await replayEpisode(orchestrator, instanceId, history, input);
    customStatuses.push(state.customStatus);
    if (state.failed || state.isDone) {
      return {
        instanceId,
        runtimeStatus: state.failed ? 'Failed' : 'Completed',
        output: state.output,
        ...(state.error !== undefined ? { error: state.error } : {}),
        customStatuses,
        calls,
        maxConcurrentSubOrchestrations: maxConcurrent,
        children,
        episodes: episode,
      };
    }

    const actions = (state.actions.flat() as Action[]).filter(Boolean);
    for (const action of actions.slice(actionsSeen)) {
      const operation = schedule(action, episode);
      waiting.push(operation);
      history.push(
        action.actionType === CALL_SUB_ORCHESTRATOR
          ? new SubOrchestrationInstanceCreatedEvent(
              event({
                eventId: operation.taskId,
                name: action.functionName,
                instanceId: action.instanceId,
                input: JSON.stringify(action.input),
              }),
            )
          : new TaskScheduledEvent(
              event({ eventId: operation.taskId, name: action.functionName, input: JSON.stringify(action.input) }),
            ),
      );
    }
    actionsSeen = actions.length;
    maxConcurrent = Math.max(
      maxConcurrent,
      waiting.filter((op) => op.action.actionType === CALL_SUB_ORCHESTRATOR).length,
    );
    history.push(new OrchestratorCompletedEvent(event()));

    const operation = waiting.shift();
    if (!operation) throw new Error(`${name} waits on nothing after episode ${episode}`);
    time = new Date(time.getTime() + EPISODE_MS);
    const events: unknown[] = [new OrchestratorStartedEvent(event())];
    const finished = await operation.deliver(events, time);
    if (!finished) waiting.push(operation);
    history.push(...events);
  }
  throw new Error(`${name} did not finish within ${MAX_EPISODES} episodes`);

  function schedule(action: Action, episode: number): Operation {
    const taskId = nextId++;
    if (action.actionType === CALL_SUB_ORCHESTRATOR) return subOrchestration(action, taskId, episode);
    if (action.actionType === CALL_ACTIVITY || action.actionType === CALL_ACTIVITY_WITH_RETRY) {
      return activity(action, taskId, episode);
    }
    throw new Error(`this driver does not play action type ${action.actionType} (${action.functionName})`);
  }

  function activity(action: Action, taskId: number, episode: number): Operation {
    const script = scenario.activities[action.functionName];
    if (!script) throw new Error(`no script for activity ${action.functionName}`);
    const activityInput: unknown = typeof action.input === 'string' ? JSON.parse(action.input) : action.input;
    const maxAttempts = action.retryOptions?.maxNumberOfAttempts ?? 1;
    const operation: Operation = {
      action,
      call: record({
        kind: 'activity',
        name: action.functionName,
        input: activityInput,
        episode,
        attempt: 1,
        ...retry(action),
      }),
      taskId,
      attempt: 1,
      async deliver(events, at) {
        const stamp = { eventId: -1, timestamp: at, isPlayed: false };
        if (operation.timerId !== undefined) {
          // The retry timer fires; the next attempt, if any is left, takes the next id.
          events.push(new TimerFiredEvent({ ...stamp, timerId: operation.timerId, fireAt: at }));
          operation.timerId = undefined;
          if (operation.attempt >= maxAttempts) return true;
          operation.attempt += 1;
          operation.taskId = nextId++;
          record({ ...operation.call, attempt: operation.attempt });
          events.push(new TaskScheduledEvent({ ...stamp, eventId: operation.taskId, name: action.functionName }));
          return false;
        }
        try {
          const result = script(activityInput, operation.attempt);
          events.push(
            new TaskCompletedEvent({
              ...stamp,
              taskScheduledId: operation.taskId,
              result: JSON.stringify(result ?? null),
            }),
          );
          return true;
        } catch (error) {
          const reason = error instanceof Error ? error.message : String(error);
          events.push(new TaskFailedEvent({ ...stamp, taskScheduledId: operation.taskId, reason, details: 'stack' }));
          if (action.actionType === CALL_ACTIVITY) return true;
          operation.timerId = nextId++;
          events.push(new TimerCreatedEvent({ ...stamp, eventId: operation.timerId, fireAt: at }));
          return false;
        }
      },
    };
    return operation;
  }

  function subOrchestration(action: Action, taskId: number, episode: number): Operation {
    const childId = action.instanceId ?? `${instanceId}:${taskId}`;
    const operation: Operation = {
      action,
      call: record({
        kind: 'subOrchestration',
        name: action.functionName,
        input: action.input,
        episode,
        attempt: 1,
        instanceId: childId,
      }),
      taskId,
      attempt: 1,
      async deliver(events, at) {
        const stamp = { eventId: -1, timestamp: at, isPlayed: false };
        const refused = scenario.failSubOrchestration?.(childId);
        if (refused !== undefined) {
          events.push(
            new SubOrchestrationInstanceFailedEvent({
              ...stamp,
              taskScheduledId: taskId,
              reason: refused,
              details: 'runtime',
            }),
          );
          return true;
        }
        const child = scenario.orchestrators?.[action.functionName];
        if (!child) throw new Error(`no orchestrator ${action.functionName} in the scenario`);
        const run = await runOrchestration(action.functionName, child, action.input, scenario, {
          instanceId: childId,
          start: at,
        });
        children.set(childId, run);
        events.push(
          run.runtimeStatus === 'Completed'
            ? new SubOrchestrationInstanceCompletedEvent({
                ...stamp,
                taskScheduledId: taskId,
                result: JSON.stringify(run.output ?? null),
              })
            : new SubOrchestrationInstanceFailedEvent({
                ...stamp,
                taskScheduledId: taskId,
                reason: run.error ?? 'failed',
                details: 'child',
              }),
        );
        return true;
      },
    };
    return operation;
  }

  function record(call: Call): Call {
    calls.push(call);
    return call;
  }
}

function retry(action: Action): { retryOptions?: RetryOptionsShape } {
  return action.retryOptions ? { retryOptions: { ...action.retryOptions } } : {};
}

interface EpisodeState {
  readonly isDone: boolean;
  readonly failed: boolean;
  readonly actions: unknown[][];
  readonly output?: unknown;
  readonly error?: string;
  readonly customStatus?: unknown;
}

async function replayEpisode(
  orchestrator: ReturnType<typeof createOrchestrator>,
  instanceId: string,
  history: unknown[],
  input: unknown,
): Promise<EpisodeState> {
  // Logs from orchestrators would only repeat on every replay: keep them out of the test output.
  const context = new DummyOrchestrationContext('orchestrator', 'invocation', () => {});
  try {
    const state = await orchestrator(new DurableOrchestrationInput(instanceId, [...history], input), context);
    return { ...state, failed: false };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const at = message.indexOf(FAILURE_LABEL);
    if (at === -1) throw error;
    const state = JSON.parse(message.slice(at + FAILURE_LABEL.length)) as Omit<EpisodeState, 'failed'>;
    return { ...state, failed: true };
  }
}
