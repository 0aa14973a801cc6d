/**
 * A task hub that drives orchestrators as the Durable extension (2.x, Azure Storage provider) does, with
 * durable-functions' own replay engine: each episode replays the whole history through `createOrchestrator`
 * (the wrapper `df.app.orchestration` registers) at the replay schema the extension announces (V3), and the
 * hub plays the extension's and DurableTask's part with the actions it returns. What the real host does that a
 * kinder driver would leave out (read in the extension's and DurableTask's sources):
 *
 * - **Custom status over 16 KB fails the orchestration.** The extension serializes it and throws when
 *   `floor(UTF-16 bytes / 1024) > 16` (MessagePayloadDataConverter), before it replays the episode's actions.
 * - **Sub-orchestration starts are not de-duplicated** (OrchestrationSessionManager: "We do de-duplication when
 *   creating top-level orchestrations but not for sub-orchestrations"). A start for an id whose instance runs
 *   begins a new execution over it; the old execution's messages no longer match its execution id and are
 *   dropped (ReconcileMessagesWithState), so its parent never hears from it again. Client starts are refused
 *   for running ids (`NonRunningStates`).
 * - **Completions arrive in batches and in any order:** an episode takes several of an instance's waiting
 *   messages at once, shuffled (seeded), the execution start always first.
 * - **Replays must repeat themselves:** every episode's actions must start with the earlier episodes' actions.
 *   A different action type or name at a sequence number is what DurableTask calls non-deterministic and fails
 *   the orchestration; this hub is stricter and also refuses a different input or instance id there (the host
 *   would not notice, and would replay old results onto new work).
 * - **Retries as DurableTask's RetryInterceptor makes them:** a timer after each failed attempt (first retry ×
 *   coefficient^n, capped), and after the last one a timer that fires at once; each takes the next sequence
 *   number when its failure is processed, as the JavaScript replay engine expects.
 * - **Terminating an orchestration stops only it:** its sub-orchestrations and running activities go on; a
 *   terminated child reports a failure to its parent.
 * - **Continue-as-new** ends the execution (`ContinuedAsNew`) and starts a new one of the same id with the new
 *   input and an empty history; messages still addressed to the old execution are dropped.
 *
 * Activities are scripted per test, or run for real in-process (`inProcess`), several at once up to
 * `maxConcurrentActivities`, as the host runs them. Retry ids assume no `Task.any` races a retried activity.
 */
import { InvocationContext } from '@azure/functions';
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

/** What the extension allows a custom status: 16 KB, counted as `floor(UTF-16 bytes / 1024)`. */
export const MAX_CUSTOM_STATUS_KB = 16;

/** The UTF-16 size of a value's JSON, as the extension measures a custom status: two bytes per string unit. */
export function utf16Bytes(value: unknown): number {
  return value === undefined || value === null ? 0 : JSON.stringify(value).length * 2;
}

/** An activity: a script's result (or throw), or a real activity function run in-process. */
export type ActivityHandler = (input: any, call: ActivityCall) => unknown;

export interface ActivityCall {
  readonly name: string;
  readonly instanceId: string;
  readonly attempt: number;
}

/** Runs a registered activity function (`(input, context) => result`) for real, with its own invocation context. */
export function inProcess(
  handler: (input: any, context: InvocationContext) => unknown,
  log: (line: string) => void = () => {},
): ActivityHandler {
  let invocations = 0;
  return (input, call) =>
    handler(
      input,
      new InvocationContext({
        functionName: call.name,
        invocationId: `${call.instanceId}:${call.name}:${(invocations += 1)}`,
        logHandler: (_level, ...args) => log(args.map(String).join(' ')),
      }),
    );
}

/**
 * An orchestrator as an app registers it with `df.app.orchestration`: already wrapped by durable-functions'
 * `createOrchestrator`, taking the trigger's binding data (what the host's registration receives).
 */
export interface RegisteredOrchestrator {
  readonly registered: (binding: unknown, context: unknown) => Promise<unknown>;
}

export type HubOrchestrator = OrchestrationHandler | RegisteredOrchestrator;

export interface HubOptions {
  readonly orchestrators: Readonly<Record<string, HubOrchestrator>>;
  readonly activities: Readonly<Record<string, ActivityHandler>>;
  /** Seeds the shuffling of batches and the choice of which instance runs next. */
  readonly seed?: number;
  /** `random` (default): each episode takes a random number of the waiting messages, shuffled; `all`: all, in order. */
  readonly batching?: 'random' | 'all';
  readonly maxConcurrentActivities?: number;
  readonly start?: Date;
  /** A sub-orchestration start the runtime itself fails (e.g. a bad id): the reason, or undefined. */
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

export type RuntimeStatus = 'Pending' | 'Running' | 'Completed' | 'Failed' | 'Terminated' | 'ContinuedAsNew';

/** One execution of an instance id, as the hub saw it. */
export interface Execution {
  readonly instanceId: string;
  readonly executionId: number;
  readonly name: string;
  readonly input: unknown;
  readonly parentInstanceId?: string;
  runtimeStatus: RuntimeStatus;
  output?: any;
  error?: string;
  customStatus?: unknown;
  /** The custom status after each episode, in order. */
  readonly customStatuses: unknown[];
  /** The largest custom status any episode set, in UTF-16 bytes. */
  maxCustomStatusBytes: number;
  readonly calls: Call[];
  episodes: number;
  /** Children started and not yet heard from, at most at once. */
  maxConcurrentChildren: number;
  readonly createdTime: Date;
  lastUpdatedTime: Date;
  /** Set when a later start of the same id overwrote this execution while it ran. */
  overwrittenBy?: number;
}

interface Message {
  readonly executionId: number;
  readonly event: unknown;
  readonly at: number;
  /** For the hub's own bookkeeping: what the event answers. */
  readonly kind: 'start' | 'taskCompleted' | 'taskFailed' | 'timerFired' | 'childCompleted' | 'childFailed';
  readonly taskId?: number;
  readonly startInfo?: {
    readonly name: string;
    readonly input: unknown;
    readonly parent?: { instanceId: string; executionId: number; taskId: number };
  };
}

interface Action {
  readonly actionType: number;
  readonly functionName: string;
  readonly input?: unknown;
  readonly instanceId?: string;
  readonly retryOptions?: RetryOptionsShape;
  readonly fireAt?: Date;
  readonly compoundActions?: Action[];
}

interface RetryState {
  readonly name: string;
  readonly input: unknown;
  readonly options: RetryOptionsShape;
  readonly call: Call;
  attempt: number;
  timerId?: number;
}

interface InstanceState {
  readonly execution: Execution;
  readonly handler: HubOrchestrator;
  readonly history: unknown[];
  readonly inbox: Message[];
  readonly parent?: { instanceId: string; executionId: number; taskId: number };
  readonly actions: Action[];
  readonly retries: Map<number, RetryState>;
  readonly openChildren: Set<number>;
  nextId: number;
}

interface WorkItem {
  readonly instanceId: string;
  readonly executionId: number;
  readonly taskId: number;
  readonly name: string;
  readonly input: unknown;
  readonly attempt: number;
}

const CALL_ACTIVITY = 0;
const CALL_ACTIVITY_WITH_RETRY = 1;
const CALL_SUB_ORCHESTRATOR = 2;
const CONTINUE_AS_NEW = 4;
const CREATE_TIMER = 5;
const WHEN_ANY = 11;
const WHEN_ALL = 12;
/** The replay schema the extension announces (`upperSchemaVersionNew`). */
const REPLAY_SCHEMA_V3 = 2;
const FAILURE_LABEL = '$OutOfProcData$:';
const EPISODE_MS = 1_000;
const MAX_STEPS = 2_000_000;

export class NonDeterministicReplayError extends Error {
  override readonly name = 'NonDeterministicReplayError';
}

export class TaskHub {
  private clock: number;
  private readonly instances = new Map<string, InstanceState>();
  /** Every execution ever started, in order: overwritten ones stay here. */
  readonly executions: Execution[] = [];
  /** Messages the task hub discarded, and why. */
  readonly dropped: { instanceId: string; kind: string; reason: string }[] = [];
  private readonly queue: WorkItem[] = [];
  private readonly running = new Set<Promise<void>>();
  private readonly timers: { at: number; instanceId: string; message: Message }[] = [];
  private random: () => number;
  /** The most activities that ran at once. */
  maxConcurrentActivities = 0;

  constructor(private readonly options: HubOptions) {
    this.clock = (options.start ?? new Date('2026-11-23T12:00:00Z')).getTime();
    this.random = seeded(options.seed ?? 1);
  }

  get now(): Date {
    return new Date(this.clock);
  }

  /** A client start: refused, as with `NonRunningStates`, for an id that is pending or running. */
  startNew(name: string, instanceId: string, input: unknown): void {
    const existing = this.instances.get(instanceId)?.execution;
    if (existing && (existing.runtimeStatus === 'Pending' || existing.runtimeStatus === 'Running')) {
      throw new Error(
        'DurableClient error: the Durable Functions extension replied with an unexpected status code: 409',
      );
    }
    this.deliverStart(instanceId, { name, input });
  }

  /** Terminates one instance; its children and running activities carry on, as in the real task hub. */
  terminate(instanceId: string, reason: string): void {
    const state = this.instances.get(instanceId);
    if (!state) throw new Error(`No instance with ID '${instanceId}' found.`);
    const execution = state.execution;
    if (execution.runtimeStatus !== 'Pending' && execution.runtimeStatus !== 'Running') return;
    execution.runtimeStatus = 'Terminated';
    execution.output = reason;
    execution.lastUpdatedTime = this.now;
    for (const message of state.inbox.splice(0)) {
      this.dropped.push({ instanceId, kind: message.kind, reason: 'instance is terminated' });
    }
    this.notifyParent(state, false, `terminated: ${reason}`);
  }

  /** The current execution of an id. */
  execution(instanceId: string): Execution | undefined {
    return this.instances.get(instanceId)?.execution;
  }

  /** Instances left pending or running with nothing that could ever move them on. */
  stuck(): Execution[] {
    return [...this.instances.values()]
      .map((state) => state.execution)
      .filter((execution) => execution.runtimeStatus === 'Pending' || execution.runtimeStatus === 'Running');
  }

  /** Runs until nothing is left to do: every message delivered, every activity and timer done. */
  async run(): Promise<void> {
    for (let step = 0; step < MAX_STEPS; step++) {
      this.fireDueTimers();
      this.startActivities();
      const ready = [...this.instances.values()].filter((state) => state.inbox.some((m) => m.at <= this.clock));
      if (ready.length > 0) {
        const state = ready[Math.floor(this.random() * ready.length)] as InstanceState;
        await this.episode(state);
        this.clock += EPISODE_MS;
        continue;
      }
      if (this.running.size > 0) {
        await Promise.race(this.running);
        // Let every activity that has settled by now report, so their results can arrive together.
        await new Promise((resolve) => setImmediate(resolve));
        continue;
      }
      const next = this.timers.reduce((soonest, timer) => Math.min(soonest, timer.at), Infinity);
      if (next !== Infinity) {
        this.clock = Math.max(this.clock, next);
        continue;
      }
      return;
    }
    throw new Error(`the task hub did not settle within ${MAX_STEPS} steps`);
  }

  // -------------------------------------------------------------------------------------------------------
  // Instances and episodes

  private deliverStart(
    instanceId: string,
    info: { name: string; input: unknown; parent?: { instanceId: string; executionId: number; taskId: number } },
    dropReason = 'execution overwritten by a new start',
  ): void {
    const handler = this.options.orchestrators[info.name];
    if (!handler) throw new Error(`no orchestrator ${info.name} in the task hub`);
    const previous = this.instances.get(instanceId);
    const executionId = (previous?.execution.executionId ?? 0) + 1;
    if (previous) {
      const old = previous.execution;
      if (old.runtimeStatus === 'Pending' || old.runtimeStatus === 'Running') old.overwrittenBy = executionId;
      for (const message of previous.inbox) this.dropped.push({ instanceId, kind: message.kind, reason: dropReason });
    }
    const execution: Execution = {
      instanceId,
      executionId,
      name: info.name,
      input: info.input,
      ...(info.parent ? { parentInstanceId: info.parent.instanceId } : {}),
      runtimeStatus: 'Pending',
      customStatuses: [],
      maxCustomStatusBytes: 0,
      calls: [],
      episodes: 0,
      maxConcurrentChildren: 0,
      createdTime: this.now,
      lastUpdatedTime: this.now,
    };
    this.executions.push(execution);
    const state: InstanceState = {
      execution,
      handler,
      history: [],
      inbox: [],
      ...(info.parent ? { parent: info.parent } : {}),
      actions: [],
      retries: new Map(),
      openChildren: new Set(),
      nextId: 0,
    };
    this.instances.set(instanceId, state);
    state.inbox.push({
      executionId,
      at: this.clock,
      kind: 'start',
      event: new ExecutionStartedEvent(this.stamp({ name: info.name, input: JSON.stringify(info.input) })),
      startInfo: info,
    });
  }

  private send(instanceId: string, message: Message): void {
    const state = this.instances.get(instanceId);
    if (!state || state.execution.executionId !== message.executionId) {
      this.dropped.push({
        instanceId,
        kind: message.kind,
        reason: 'ExecutionId of event does not match current executionId',
      });
      return;
    }
    if (state.execution.runtimeStatus !== 'Pending' && state.execution.runtimeStatus !== 'Running') {
      this.dropped.push({ instanceId, kind: message.kind, reason: `instance is ${state.execution.runtimeStatus}` });
      return;
    }
    state.inbox.push(message);
  }

  private takeBatch(state: InstanceState): Message[] {
    const ready = state.inbox.filter((message) => message.at <= this.clock);
    let batch = ready;
    if (this.options.batching !== 'all') {
      batch = shuffle(ready, this.random).slice(0, 1 + Math.floor(this.random() * ready.length));
    }
    const start = batch.find((message) => message.kind === 'start');
    if (start) batch = [start, ...batch.filter((message) => message !== start)];
    for (const message of batch) state.inbox.splice(state.inbox.indexOf(message), 1);
    return batch;
  }

  private async episode(state: InstanceState): Promise<void> {
    const execution = state.execution;
    const batch = this.takeBatch(state);
    execution.runtimeStatus = 'Running';
    execution.episodes += 1;
    state.history.push(new OrchestratorStartedEvent(this.stamp()));
    const lateEvents: unknown[] = [];
    for (const message of batch) {
      state.history.push(message.event);
      this.afterDelivery(state, message, lateEvents);
    }

    const result = await replay(state);
    execution.customStatus = result.customStatus;
    execution.customStatuses.push(result.customStatus);
    const bytes = utf16Bytes(result.customStatus);
    execution.maxCustomStatusBytes = Math.max(execution.maxCustomStatusBytes, bytes);
    if (Math.floor(bytes / 1024) > MAX_CUSTOM_STATUS_KB) {
      this.finish(
        state,
        false,
        `The UTF-16 size of the JSON-serialized payload must not exceed ${MAX_CUSTOM_STATUS_KB} KB. The current payload size is ${Math.floor(bytes / 1024)} KB.`,
      );
      return;
    }

    const actions = flatten(result.actions);
    this.checkReplay(state, actions);
    if (execution.runtimeStatus !== 'Running') return;
    const fresh = actions.slice(state.actions.length);
    for (const action of fresh) if (action.actionType !== CONTINUE_AS_NEW) this.schedule(state, action);
    state.actions.push(...fresh);
    const continued = fresh.find((action) => action.actionType === CONTINUE_AS_NEW);
    if (continued && !result.failed) {
      this.continueAsNew(state, typeof continued.input === 'string' ? safeParse(continued.input) : continued.input);
      return;
    }
    state.history.push(...lateEvents, new OrchestratorCompletedEvent(this.stamp()));
    execution.maxConcurrentChildren = Math.max(execution.maxConcurrentChildren, state.openChildren.size);
    execution.lastUpdatedTime = this.now;

    if (result.failed) this.finish(state, false, result.error ?? 'the orchestration failed');
    else if (result.isDone) this.finish(state, true, result.output);
  }

  /** What processing a delivered message sets off in DurableTask itself: retry timers and retried attempts. */
  private afterDelivery(state: InstanceState, message: Message, lateEvents: unknown[]): void {
    if (message.kind === 'childCompleted' || message.kind === 'childFailed') {
      state.openChildren.delete(message.taskId as number);
      return;
    }
    if (message.kind === 'taskFailed') {
      const retry = state.retries.get(message.taskId as number);
      if (!retry) return;
      state.retries.delete(message.taskId as number);
      const last = retry.attempt >= retry.options.maxNumberOfAttempts;
      const delay = last ? 0 : retryDelay(retry.options, retry.attempt - 1);
      retry.timerId = state.nextId++;
      state.retries.set(retry.timerId, retry);
      lateEvents.push(
        new TimerCreatedEvent(this.stamp({ eventId: retry.timerId, fireAt: new Date(this.clock + delay) })),
      );
      this.timers.push({
        at: this.clock + delay,
        instanceId: state.execution.instanceId,
        message: {
          executionId: state.execution.executionId,
          at: this.clock + delay,
          kind: 'timerFired',
          taskId: retry.timerId,
          event: new TimerFiredEvent(this.stamp({ timerId: retry.timerId, fireAt: new Date(this.clock + delay) })),
        },
      });
      return;
    }
    if (message.kind === 'timerFired') {
      const retry = state.retries.get(message.taskId as number);
      if (!retry) return;
      state.retries.delete(message.taskId as number);
      if (retry.attempt >= retry.options.maxNumberOfAttempts) return;
      retry.attempt += 1;
      const taskId = state.nextId++;
      state.retries.set(taskId, retry);
      state.execution.calls.push({ ...retry.call, attempt: retry.attempt, episode: state.execution.episodes });
      lateEvents.push(new TaskScheduledEvent(this.stamp({ eventId: taskId, name: retry.name })));
      this.queue.push({
        instanceId: state.execution.instanceId,
        executionId: state.execution.executionId,
        taskId,
        name: retry.name,
        input: retry.input,
        attempt: retry.attempt,
      });
    }
  }

  private checkReplay(state: InstanceState, actions: readonly Action[]): void {
    const earlier = state.actions;
    for (let index = 0; index < earlier.length; index++) {
      const before = earlier[index] as Action;
      const now = actions[index];
      if (
        !now ||
        now.actionType !== before.actionType ||
        (now.functionName ?? '').toLowerCase() !== (before.functionName ?? '').toLowerCase()
      ) {
        // DurableTask's NonDeterministicOrchestrationException: the host fails the orchestration.
        this.finish(
          state,
          false,
          `Non-Deterministic workflow detected: a previous execution scheduled ${describe(before)} at sequence ${index}, but the replay ${now ? `scheduled ${describe(now)}` : 'has not (yet?) scheduled it'}`,
        );
        return;
      }
      if (JSON.stringify(now.input) !== JSON.stringify(before.input) || now.instanceId !== before.instanceId) {
        throw new NonDeterministicReplayError(
          `${state.execution.instanceId}: the replay of ${describe(before)} at sequence ${index} changed its ` +
            `${now.instanceId !== before.instanceId ? `instance id (${before.instanceId} → ${now.instanceId})` : 'input'}; the host would replay old results onto it`,
        );
      }
    }
  }

  private schedule(state: InstanceState, action: Action): void {
    const execution = state.execution;
    const taskId = state.nextId++;
    const input: unknown = typeof action.input === 'string' ? safeParse(action.input) : action.input;
    if (action.actionType === CALL_ACTIVITY || action.actionType === CALL_ACTIVITY_WITH_RETRY) {
      if (!this.options.activities[action.functionName])
        throw new Error(`no activity ${action.functionName} in the task hub`);
      const call: Call = {
        kind: 'activity',
        name: action.functionName,
        input,
        episode: execution.episodes,
        attempt: 1,
        ...(action.retryOptions ? { retryOptions: { ...action.retryOptions } } : {}),
      };
      execution.calls.push(call);
      state.history.push(
        new TaskScheduledEvent(
          this.stamp({ eventId: taskId, name: action.functionName, input: JSON.stringify(input) }),
        ),
      );
      if (action.actionType === CALL_ACTIVITY_WITH_RETRY && action.retryOptions) {
        state.retries.set(taskId, { name: action.functionName, input, options: action.retryOptions, call, attempt: 1 });
      }
      this.queue.push({
        instanceId: execution.instanceId,
        executionId: execution.executionId,
        taskId,
        name: action.functionName,
        input,
        attempt: 1,
      });
      return;
    }
    if (action.actionType === CALL_SUB_ORCHESTRATOR) {
      const childId = action.instanceId ?? `${execution.instanceId}:${taskId}`;
      execution.calls.push({
        kind: 'subOrchestration',
        name: action.functionName,
        input,
        episode: execution.episodes,
        attempt: 1,
        instanceId: childId,
      });
      state.history.push(
        new SubOrchestrationInstanceCreatedEvent(
          this.stamp({ eventId: taskId, name: action.functionName, instanceId: childId, input: JSON.stringify(input) }),
        ),
      );
      state.openChildren.add(taskId);
      const refused = this.options.failSubOrchestration?.(childId);
      const parent = { instanceId: execution.instanceId, executionId: execution.executionId, taskId };
      if (refused !== undefined) {
        this.send(execution.instanceId, {
          executionId: execution.executionId,
          at: this.clock,
          kind: 'childFailed',
          taskId,
          event: new SubOrchestrationInstanceFailedEvent(
            this.stamp({ taskScheduledId: taskId, reason: refused, details: 'runtime' }),
          ),
        });
        return;
      }
      this.deliverStart(childId, { name: action.functionName, input, parent });
      return;
    }
    if (action.actionType === CREATE_TIMER) {
      const at = new Date(action.fireAt ?? this.clock).getTime();
      state.history.push(new TimerCreatedEvent(this.stamp({ eventId: taskId, fireAt: new Date(at) })));
      this.timers.push({
        at,
        instanceId: execution.instanceId,
        message: {
          executionId: execution.executionId,
          at,
          kind: 'timerFired',
          taskId,
          event: new TimerFiredEvent(this.stamp({ timerId: taskId, fireAt: new Date(at) })),
        },
      });
      return;
    }
    throw new Error(`this task hub does not play action type ${action.actionType} (${action.functionName})`);
  }

  /** DurableTask's ContinueAsNew: this execution ends, and a new one of the same id starts with `input`. */
  private continueAsNew(state: InstanceState, input: unknown): void {
    const execution = state.execution;
    execution.runtimeStatus = 'ContinuedAsNew';
    execution.lastUpdatedTime = this.now;
    this.deliverStart(
      execution.instanceId,
      { name: execution.name, input, ...(state.parent ? { parent: state.parent } : {}) },
      'continued as new',
    );
  }

  private finish(state: InstanceState, ok: boolean, outcome: unknown): void {
    const execution = state.execution;
    execution.runtimeStatus = ok ? 'Completed' : 'Failed';
    if (ok) execution.output = outcome;
    else execution.error = String(outcome);
    execution.lastUpdatedTime = this.now;
    this.notifyParent(state, ok, ok ? outcome : String(outcome));
  }

  private notifyParent(state: InstanceState, ok: boolean, outcome: unknown): void {
    const parent = state.parent;
    if (!parent) return;
    this.send(parent.instanceId, {
      executionId: parent.executionId,
      at: this.clock,
      kind: ok ? 'childCompleted' : 'childFailed',
      taskId: parent.taskId,
      event: ok
        ? new SubOrchestrationInstanceCompletedEvent(
            this.stamp({ taskScheduledId: parent.taskId, result: JSON.stringify(outcome ?? null) }),
          )
        : new SubOrchestrationInstanceFailedEvent(
            this.stamp({ taskScheduledId: parent.taskId, reason: String(outcome), details: 'child' }),
          ),
    });
  }

  // -------------------------------------------------------------------------------------------------------
  // Activities and timers

  private startActivities(): void {
    const limit = this.options.maxConcurrentActivities ?? 4;
    while (this.running.size < limit && this.queue.length > 0) {
      const item = this.queue.shift() as WorkItem;
      const handler = this.options.activities[item.name] as ActivityHandler;
      const work = (async () => {
        let message: Message;
        try {
          const result = await handler(item.input, {
            name: item.name,
            instanceId: item.instanceId,
            attempt: item.attempt,
          });
          message = {
            executionId: item.executionId,
            at: this.clock,
            kind: 'taskCompleted',
            taskId: item.taskId,
            event: new TaskCompletedEvent(
              this.stamp({ taskScheduledId: item.taskId, result: JSON.stringify(result ?? null) }),
            ),
          };
        } catch (error) {
          const reason = error instanceof Error ? error.message : String(error);
          message = {
            executionId: item.executionId,
            at: this.clock,
            kind: 'taskFailed',
            taskId: item.taskId,
            event: new TaskFailedEvent(this.stamp({ taskScheduledId: item.taskId, reason, details: 'stack' })),
          };
        }
        this.send(item.instanceId, message);
      })();
      const tracked = work.finally(() => this.running.delete(tracked));
      this.running.add(tracked);
      this.maxConcurrentActivities = Math.max(this.maxConcurrentActivities, this.running.size);
    }
  }

  private fireDueTimers(): void {
    for (const timer of this.timers.filter((candidate) => candidate.at <= this.clock)) {
      this.timers.splice(this.timers.indexOf(timer), 1);
      this.send(timer.instanceId, timer.message);
    }
  }

  private stamp(extra: Record<string, unknown> = {}) {
    return { eventId: -1, timestamp: this.now, isPlayed: false, ...extra } as never;
  }
}

interface EpisodeState {
  readonly isDone: boolean;
  readonly failed: boolean;
  readonly actions: unknown[][];
  readonly output?: unknown;
  readonly error?: string;
  readonly customStatus?: unknown;
}

async function replay(state: InstanceState): Promise<EpisodeState> {
  const execution = state.execution;
  // Logs from orchestrators would only repeat on every replay: keep them out of the test output.
  const context = new DummyOrchestrationContext('orchestrator', 'invocation', () => {});
  const orchestrator =
    'registered' in state.handler
      ? (state.handler.registered as ReturnType<typeof createOrchestrator>)
      : createOrchestrator(state.handler);
  const binding = new DurableOrchestrationInput(
    execution.instanceId,
    [...state.history],
    execution.input,
    undefined,
    undefined,
    undefined,
    REPLAY_SCHEMA_V3,
    false,
    execution.parentInstanceId ?? '',
  );
  try {
    const result = await orchestrator(binding, context);
    return { ...result, failed: false };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const at = message.indexOf(FAILURE_LABEL);
    if (at === -1) throw error;
    const result = JSON.parse(message.slice(at + FAILURE_LABEL.length)) as Omit<EpisodeState, 'failed'>;
    return { ...result, failed: true };
  }
}

/** Schema V2+ actions: one list of every action since the start, with `Task.all`/`Task.any` nested. */
function flatten(actions: unknown[][]): Action[] {
  const out: Action[] = [];
  const visit = (action: Action) => {
    if (action.actionType === WHEN_ALL || action.actionType === WHEN_ANY) (action.compoundActions ?? []).forEach(visit);
    else out.push(action);
  };
  for (const action of (actions[0] ?? []) as Action[]) if (action) visit(action);
  return out;
}

function describe(action: Action): string {
  return `${['activity', 'activity (with retry)', 'sub-orchestration'][action.actionType] ?? `action ${action.actionType}`} "${action.functionName}"`;
}

/** DurableTask's RetryInterceptor: first retry × coefficient^n, capped by the maximum interval. */
function retryDelay(options: RetryOptionsShape, retryCount: number): number {
  const delay = options.firstRetryIntervalInMilliseconds * (options.backoffCoefficient ?? 1) ** retryCount;
  const cap = options.maxRetryIntervalInMilliseconds;
  return cap !== undefined && cap > 0 && delay > cap ? cap : delay;
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}
