/** The task hub stand-in itself: that it is as strict as the host where the host is strict. */
import './support/core-standin';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { OrchestrationContext } from 'durable-functions';
import { NonDeterministicReplayError, TaskHub, utf16Bytes } from './support/task-hub';

describe('the task hub stand-in', () => {
  it('fails an orchestration as the extension does once floor(UTF-16 bytes / 1024) passes 16', async () => {
    const run = async (characters: number) => {
      const hub = new TaskHub({
        orchestrators: {
          sized: function* (context: OrchestrationContext) {
            context.df.setCustomStatus('é'.repeat(characters));
            yield context.df.callActivity('noop');
          },
        },
        activities: { noop: () => null },
      });
      hub.startNew('sized', 'sized', null);
      await hub.run();
      return hub.execution('sized');
    };
    // A JSON string of n characters is n + 2 long: 17,407 bytes is "16 KB", 17,408 is 17.
    const under = await run(8_701);
    assert.equal(utf16Bytes('é'.repeat(8_701)), 17_406);
    assert.equal(under?.runtimeStatus, 'Completed');
    const over = await run(8_702);
    assert.equal(over?.runtimeStatus, 'Failed');
    assert.match(over?.error ?? '', /The current payload size is 17 KB/);
  });

  it('refuses a replay whose actions do not repeat the earlier ones: another name fails it, another input throws', async () => {
    let flip = 0;
    const renamed = new TaskHub({
      orchestrators: {
        drifting: function* (context: OrchestrationContext) {
          yield context.df.callActivity(flip++ === 0 ? 'first' : 'second');
          yield context.df.callActivity('third');
        },
      },
      activities: { first: () => 1, second: () => 2, third: () => 3 },
    });
    renamed.startNew('drifting', 'drifting', null);
    await renamed.run();
    assert.equal(renamed.execution('drifting')?.runtimeStatus, 'Failed');
    assert.match(renamed.execution('drifting')?.error ?? '', /Non-Deterministic/);

    let input = 0;
    const changed = new TaskHub({
      orchestrators: {
        drifting: function* (context: OrchestrationContext) {
          yield context.df.callActivity('work', { window: input++ });
          yield context.df.callActivity('work', { window: 'last' });
        },
      },
      activities: { work: () => null },
    });
    changed.startNew('drifting', 'drifting', null);
    await assert.rejects(changed.run(), NonDeterministicReplayError);
  });

  it('delivers completions in batches and out of order, and the orchestration sees every one', async () => {
    const episodes = new Set<number>();
    const firstSeen = new Set<number>();
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const hub = new TaskHub({
        orchestrators: {
          fanOut: function* (context: OrchestrationContext) {
            const tasks = [0, 1, 2, 3, 4, 5].map((n) => context.df.callActivity('work', n));
            const first = (yield context.df.Task.any(tasks)) as { result: number };
            const all = (yield context.df.Task.all(tasks)) as number[];
            return { first: first.result, all };
          },
        },
        activities: { work: (n: number) => n * 10 },
        maxConcurrentActivities: 6,
        seed,
      });
      hub.startNew('fanOut', 'fanOut', null);
      await hub.run();
      const execution = hub.execution('fanOut');
      assert.deepEqual(execution?.output.all, [0, 10, 20, 30, 40, 50]);
      episodes.add(execution?.episodes ?? 0);
      firstSeen.add(execution?.output.first);
    }
    assert.ok(episodes.size > 1, `batch sizes vary with the seed: ${[...episodes].join(', ')} episodes`);
    assert.ok(firstSeen.size > 1, `completions arrive in varying order: first seen ${[...firstSeen].join(', ')}`);
  });

  it('runs activities several at once, up to its limit', async () => {
    let running = 0;
    let most = 0;
    const hub = new TaskHub({
      orchestrators: {
        fanOut: function* (context: OrchestrationContext) {
          return yield context.df.Task.all([0, 1, 2, 3, 4, 5, 6, 7].map((n) => context.df.callActivity('slow', n)));
        },
      },
      activities: {
        slow: async (n: number) => {
          running += 1;
          most = Math.max(most, running);
          await new Promise((resolve) => setTimeout(resolve, 5));
          running -= 1;
          return n;
        },
      },
      maxConcurrentActivities: 4,
    });
    hub.startNew('fanOut', 'fanOut', null);
    await hub.run();
    assert.equal(most, 4);
    assert.deepEqual(hub.execution('fanOut')?.output, [0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('refuses a client start for a running id, and lets a terminated instance’s parent hear of it', async () => {
    const hub = new TaskHub({
      orchestrators: {
        parent: function* (context: OrchestrationContext) {
          try {
            yield context.df.callSubOrchestrator('child', null, 'child');
            return 'child finished';
          } catch {
            return 'child failed';
          }
        },
        child: function* (context: OrchestrationContext) {
          yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + 3_600_000));
        },
      },
      activities: {},
      batching: 'all',
    });
    hub.startNew('parent', 'parent', null);
    assert.throws(() => hub.startNew('parent', 'parent', null), /409/);
    const running = hub.run();
    await running;
    assert.equal(hub.execution('parent')?.output, 'child finished');

    const again: TaskHub = new TaskHub({
      orchestrators: {
        parent: function* (context: OrchestrationContext) {
          try {
            yield context.df.callSubOrchestrator('child', null, 'child');
            return 'child finished';
          } catch {
            return 'child failed';
          }
        },
        child: function* (context: OrchestrationContext) {
          yield context.df.callActivity('terminateMe');
        },
      },
      activities: { terminateMe: (): void => again.terminate('child', 'stop') },
      batching: 'all',
    });
    again.startNew('parent', 'parent', null);
    await again.run();
    assert.equal(again.execution('child')?.runtimeStatus, 'Terminated');
    assert.equal(again.execution('parent')?.output, 'child failed');
  });
});
