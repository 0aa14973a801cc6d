/**
 * Types for the parts of durable-functions (pinned to 3.5.0 in package.json) that its own tests use to run
 * orchestrators through the real replay engine: history events in, actions out. They are internal and
 * untyped in the package, so only what these tests touch is declared here.
 */
declare module 'durable-functions/lib/src/util/testingUtils' {
  import type { OrchestrationHandler } from 'durable-functions';
  import type { InvocationContext } from '@azure/functions';

  export class DurableOrchestrationInput {
    constructor(
      instanceId?: string,
      history?: unknown[],
      input?: unknown,
      longRunningTimerIntervalDuration?: string,
      maximumShortTimerDuration?: string,
      defaultHttpAsyncRequestSleepTimeMillseconds?: number,
      schemaVersion?: number,
      isReplaying?: boolean,
      parentInstanceId?: string,
    );
  }

  /** What an orchestrator episode returns to the host. */
  export interface OrchestratorStateShape {
    readonly isDone: boolean;
    readonly actions: unknown[][];
    readonly output?: unknown;
    readonly error?: string;
    readonly customStatus?: unknown;
  }

  export function createOrchestrator(
    handler: OrchestrationHandler,
  ): (input: DurableOrchestrationInput, context: InvocationContext) => Promise<OrchestratorStateShape>;
}

declare module 'durable-functions/lib/src/history/HistoryEvents' {
  // Not a real module: the shared option shape of the event classes below.
  export interface HistoryEventOptions {
    eventId: number;
    timestamp: Date;
    isPlayed: boolean;
    name?: string;
    input?: string;
    result?: string;
    reason?: string;
    details?: string;
    taskScheduledId?: number;
    instanceId?: string;
    fireAt?: Date;
    timerId?: number;
  }
}

declare module 'durable-functions/lib/src/history/OrchestratorStartedEvent' {
  import type { HistoryEventOptions } from 'durable-functions/lib/src/history/HistoryEvents';
  export class OrchestratorStartedEvent {
    constructor(options: HistoryEventOptions);
  }
}
declare module 'durable-functions/lib/src/history/OrchestratorCompletedEvent' {
  import type { HistoryEventOptions } from 'durable-functions/lib/src/history/HistoryEvents';
  export class OrchestratorCompletedEvent {
    constructor(options: HistoryEventOptions);
  }
}
declare module 'durable-functions/lib/src/history/ExecutionStartedEvent' {
  import type { HistoryEventOptions } from 'durable-functions/lib/src/history/HistoryEvents';
  export class ExecutionStartedEvent {
    constructor(options: HistoryEventOptions);
  }
}
declare module 'durable-functions/lib/src/history/TaskScheduledEvent' {
  import type { HistoryEventOptions } from 'durable-functions/lib/src/history/HistoryEvents';
  export class TaskScheduledEvent {
    constructor(options: HistoryEventOptions);
  }
}
declare module 'durable-functions/lib/src/history/TaskCompletedEvent' {
  import type { HistoryEventOptions } from 'durable-functions/lib/src/history/HistoryEvents';
  export class TaskCompletedEvent {
    constructor(options: HistoryEventOptions);
  }
}
declare module 'durable-functions/lib/src/history/TaskFailedEvent' {
  import type { HistoryEventOptions } from 'durable-functions/lib/src/history/HistoryEvents';
  export class TaskFailedEvent {
    constructor(options: HistoryEventOptions);
  }
}
declare module 'durable-functions/lib/src/history/TimerCreatedEvent' {
  import type { HistoryEventOptions } from 'durable-functions/lib/src/history/HistoryEvents';
  export class TimerCreatedEvent {
    constructor(options: HistoryEventOptions);
  }
}
declare module 'durable-functions/lib/src/history/TimerFiredEvent' {
  import type { HistoryEventOptions } from 'durable-functions/lib/src/history/HistoryEvents';
  export class TimerFiredEvent {
    constructor(options: HistoryEventOptions);
  }
}
declare module 'durable-functions/lib/src/history/SubOrchestrationInstanceCreatedEvent' {
  import type { HistoryEventOptions } from 'durable-functions/lib/src/history/HistoryEvents';
  export class SubOrchestrationInstanceCreatedEvent {
    constructor(options: HistoryEventOptions);
  }
}
declare module 'durable-functions/lib/src/history/SubOrchestrationInstanceCompletedEvent' {
  import type { HistoryEventOptions } from 'durable-functions/lib/src/history/HistoryEvents';
  export class SubOrchestrationInstanceCompletedEvent {
    constructor(options: HistoryEventOptions);
  }
}
declare module 'durable-functions/lib/src/history/SubOrchestrationInstanceFailedEvent' {
  import type { HistoryEventOptions } from 'durable-functions/lib/src/history/HistoryEvents';
  export class SubOrchestrationInstanceFailedEvent {
    constructor(options: HistoryEventOptions);
  }
}
