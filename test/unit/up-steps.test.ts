import { describe, expect, it } from 'vitest';
import { StepRunner, type UpStep } from '../../src/stack/step.ts';

// How `up` takes back what it did when a step fails (src/stack/step.ts).

function recorder() {
  const log: string[] = [];
  const step = (name: string, options: { fail?: boolean; undo?: boolean; undoFails?: boolean } = {}): UpStep<{ n: number }, { name: string }> => ({
    name,
    run: (ctx) => {
      log.push(`run ${name} ${ctx.n}`);
      return options.fail ? Promise.reject(new Error(`${name} failed`)) : Promise.resolve({ name });
    },
    ...(options.undo === false
      ? {}
      : {
          undo: (ctx, result) => {
            log.push(`undo ${result.name} ${ctx.n}`);
            return options.undoFails ? Promise.reject(new Error(`undo ${name} failed`)) : Promise.resolve();
          },
        }),
  });
  return { log, step };
}

describe('StepRunner', () => {
  it('undoes the steps done, the last first, with the context and result each ran with; not the one that failed nor those never run', async () => {
    const { log, step } = recorder();
    const steps = new StepRunner();
    const run = async () => {
      await steps.run(step('a'), { n: 1 });
      await steps.run(step('keep', { undo: false }), { n: 2 });
      await steps.run(step('b'), { n: 3 });
      await steps.run(step('c', { fail: true }), { n: 4 });
      await steps.run(step('d'), { n: 5 });
    };
    await expect(run()).rejects.toThrow('c failed');
    expect(steps.undoable).toEqual(['a', 'b']);
    expect(await steps.undoDone()).toEqual([]);
    expect(log).toEqual(['run a 1', 'run keep 2', 'run b 3', 'run c 4', 'undo b 3', 'undo a 1']);
    // Undone once: a second call has nothing left.
    expect(await steps.undoDone()).toEqual([]);
    expect(log).toHaveLength(6);
  });

  it('an undo that fails does not stop the others; its error is returned, not thrown', async () => {
    const { log, step } = recorder();
    const steps = new StepRunner();
    await steps.run(step('server'), { n: 1 });
    await steps.run(step('pooler', { undoFails: true }), { n: 2 });
    const failures = await steps.undoDone();
    expect(log).toEqual(['run server 1', 'run pooler 2', 'undo pooler 2', 'undo server 1']);
    expect(failures.map((f) => [f.step, (f.error as Error).message])).toEqual([['pooler', 'undo pooler failed']]);
  });
});
