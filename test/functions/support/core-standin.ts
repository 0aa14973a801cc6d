/**
 * A stand-in for `@azure/functions-core`, the module the Functions host provides. Without it,
 * @azure/functions runs in "test mode" and warns for every registration; with it, registrations are
 * recorded exactly as the host would receive them. Importing this module installs it for the process:
 * import it before anything that registers functions.
 */
import Module from 'node:module';

export interface Registration {
  readonly metadata: {
    readonly name: string;
    readonly bindings: Record<string, Record<string, unknown>>;
    readonly retryOptions?: unknown;
  };
  readonly handler: unknown;
}

export const registrations: Registration[] = [];

/** Hooks the app registered (`app.hook.appTerminate(…)` and the like), by hook name, as the worker would run them. */
export const hooks: { readonly name: string; readonly callback: (context: unknown) => unknown }[] = [];

const core = {
  registerFunction(metadata: Registration['metadata'], handler: unknown) {
    registrations.push({ metadata, handler });
    return { dispose() {} };
  },
  setProgrammingModel() {},
  getProgrammingModel() {
    return undefined;
  },
  registerHook(name: string, callback: (context: unknown) => unknown) {
    hooks.push({ name, callback });
    return { dispose() {} };
  },
  log() {},
};

type Load = (request: string, parent: unknown, isMain: boolean) => unknown;
const moduleInternals = Module as unknown as { _load: Load };
const originalLoad = moduleInternals._load;
moduleInternals._load = function (request, parent, isMain) {
  return request === '@azure/functions-core' ? core : originalLoad.call(this, request, parent, isMain);
};
