import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ErrorKind, InputError } from '../../src/common/errors';
import { MAX_ERROR_MESSAGE, TransientStepError, failureOfTask, stepOutcome } from '../../src/schedule/outcome';

class Classified extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
  ) {
    super(message);
  }
}
const kindOf = (error: unknown): ErrorKind =>
  error instanceof Classified ? error.kind : error instanceof InputError ? 'input' : 'terminal';

describe('an activity outcome', () => {
  it('carries the step’s value', async () => {
    assert.deepEqual(await stepOutcome(async () => ({ staged: 3 }), kindOf), { ok: true, value: { staged: 3 } });
  });

  it('returns input errors with their field, so the orchestrator fails without retrying', async () => {
    const outcome = await stepOutcome(async () => {
      throw new InputError('BLOCK_LAKEHOUSE_TABLE', 'block "x" does not exist');
    }, kindOf);
    assert.deepEqual(outcome, {
      ok: false,
      error: { kind: 'input', field: 'BLOCK_LAKEHOUSE_TABLE', message: 'block "x" does not exist' },
    });
  });

  it('returns terminal errors with their one-line cause', async () => {
    const outcome = await stepOutcome(async () => {
      throw new Classified('terminal', 'the table holds fewer rows than were staged');
    }, kindOf);
    assert.deepEqual(outcome, {
      ok: false,
      error: { kind: 'terminal', message: 'the table holds fewer rows than were staged' },
    });
  });

  it('throws transient errors for Durable to retry, with the summary as the message', async () => {
    const cause = new Classified('transient', 'HTTP 503 from the source');
    await assert.rejects(
      stepOutcome(async () => {
        throw cause;
      }, kindOf),
      (error: unknown) =>
        error instanceof TransientStepError && error.message === 'HTTP 503 from the source' && error.cause === cause,
    );
  });

  it('uses the pipeline’s classification by default (input errors are never retried)', async () => {
    const outcome = await stepOutcome(async () => {
      throw new InputError('window.start', 'bad');
    });
    assert.equal(outcome.ok, false);
  });

  it('keeps a huge message to one readable line’s length (history and status answers carry it)', async () => {
    const outcome = await stepOutcome(async () => {
      throw new Classified('terminal', 'x'.repeat(100_000));
    }, kindOf);
    assert.equal(outcome.ok, false);
    if (!outcome.ok) assert.equal(outcome.error.message.length, MAX_ERROR_MESSAGE);
  });

  it('summarizes a task that failed after its retries as transient', () => {
    assert.deepEqual(failureOfTask(new Error(' socket hang up \n')), { kind: 'transient', message: 'socket hang up' });
  });
});
