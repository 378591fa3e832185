import type { LocalLayout } from '../local/layout.ts';
import type { UpOptions } from './up-types.ts';

/** What every step of `up` gets: the options, the data directory, and where to tell things. */
export interface UpContext {
  readonly options: UpOptions;
  readonly layout: LocalLayout;
  readonly progress: (message: string) => void;
  /** Things to tell that did not stop `up`, printed with the others at the end (steps append). */
  readonly notes: string[];
  /** `startTimeoutSeconds`, and the time by which the server must answer. */
  readonly timeoutSeconds: number;
  readonly deadline: number;
}

/**
 * One step of `up` (src/stack/steps/): `run` reads what it needs from the context (the options and
 * the results of the steps before it) and returns its own result, which the next steps read.
 * `undo` takes back what `run` did when a later step fails; a step without one leaves what it did
 * (its doc comment says why), as `up` always has: a created cluster, secrets.json, state.json.
 */
export interface UpStep<In, Out> {
  readonly name: string;
  run(ctx: In): Promise<Out>;
  undo?(ctx: In, result: Out): Promise<void>;
}

/**
 * Runs steps one after the other and remembers the undo of each one done.
 *
 * @example
 * const steps = new StepRunner();
 * try {
 *   const { startedHere } = await steps.run(start, ctx);
 *   await steps.run(migrate, ctx);
 * } catch (error) {
 *   await steps.undoDone(); // stops the server when `start` started it
 *   throw error;
 * }
 */
export class StepRunner {
  readonly #done: { name: string; undo: () => Promise<void> }[] = [];

  /** Run `step`; once it succeeded its undo (if any) is remembered. A step that throws undoes its own partial work. */
  async run<In, Out>(step: UpStep<In, Out>, ctx: In): Promise<Out> {
    const result = await step.run(ctx);
    if (step.undo) this.#done.push({ name: step.name, undo: async () => await step.undo?.(ctx, result) });
    return result;
  }

  /** The names of the steps done so far that have an undo, in the order they ran. */
  get undoable(): string[] {
    return this.#done.map((entry) => entry.name);
  }

  /**
   * Undo the steps done, the last one first. An undo that fails does not stop the others and does
   * not replace the error that made `up` fail: the failures are returned, not thrown.
   */
  async undoDone(): Promise<{ step: string; error: unknown }[]> {
    const failures: { step: string; error: unknown }[] = [];
    for (let entry = this.#done.pop(); entry; entry = this.#done.pop()) {
      try {
        await entry.undo();
      } catch (error) {
        failures.push({ step: entry.name, error });
      }
    }
    return failures;
  }
}
