import type { AccessToken, TokenCredential } from '@azure/core-auth';
import type {
  DatabricksClient,
  DatabricksConnectionOptions,
  DatabricksConnector,
  DatabricksOperation,
  DatabricksSession,
} from '../../src/warehouse/databricks-driver';

/**
 * What the fake is told to do. Each failure is used once, in order: connect failures by connection, statement
 * failures by the statement's first word (SET, CREATE, MERGE…), so a retry of the same statement can succeed.
 */
export interface Script {
  readonly connectFailures?: unknown[];
  readonly executeFailures?: Record<string, unknown[]>;
  readonly fetchFailures?: Record<string, unknown[]>;
  readonly rows?: Record<string, object[]>;
}

/**
 * A stand-in for DBSQLClient at the client boundary: it records every call, so tests can check order and
 * that everything opened was closed.
 */
export class FakeDatabricks implements DatabricksConnector {
  readonly events: string[] = [];
  readonly connections: DatabricksConnectionOptions[] = [];
  private readonly connectFailures: unknown[];
  private readonly executeFailures: Map<string, unknown[]>;
  private readonly fetchFailures: Map<string, unknown[]>;

  constructor(private readonly script: Script = {}) {
    this.connectFailures = [...(script.connectFailures ?? [])];
    this.executeFailures = new Map(
      Object.entries(script.executeFailures ?? {}).map(([word, list]) => [word, [...list]]),
    );
    this.fetchFailures = new Map(Object.entries(script.fetchFailures ?? {}).map(([word, list]) => [word, [...list]]));
  }

  get executed(): string[] {
    return this.events.filter((event) => event.startsWith('execute ')).map((event) => event.slice('execute '.length));
  }

  async connect(options: DatabricksConnectionOptions): Promise<DatabricksClient> {
    this.connections.push(options);
    this.events.push('connect');
    const failure = this.connectFailures.shift();
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- the driver's StatusError is not an Error either
    if (failure !== undefined) throw failure;
    return {
      openSession: async () => this.session(),
      close: async () => void this.events.push('client.close'),
    };
  }

  private session(): DatabricksSession {
    this.events.push('openSession');
    return {
      executeStatement: async (statement) => {
        this.events.push(`execute ${statement}`);
        const failure = this.executeFailures.get(firstWord(statement))?.shift();
        // eslint-disable-next-line @typescript-eslint/only-throw-error -- the driver's StatusError is not an Error either
        if (failure !== undefined) throw failure;
        return this.operation(statement);
      },
      close: async () => void this.events.push('session.close'),
    };
  }

  private operation(statement: string): DatabricksOperation {
    return {
      fetchAll: async () => {
        this.events.push('fetchAll');
        const failure = this.fetchFailures.get(firstWord(statement))?.shift();
        // eslint-disable-next-line @typescript-eslint/only-throw-error -- the driver's StatusError is not an Error either
        if (failure !== undefined) throw failure;
        return this.script.rows?.[firstWord(statement)] ?? [];
      },
      close: async () => void this.events.push('operation.close'),
    };
  }
}

function firstWord(statement: string): string {
  return statement.split(/\s/, 1)[0] ?? '';
}

/** A credential that hands out a recognisable token and remembers which scopes it was asked for. */
export function fakeCredential(token: string): TokenCredential & { scopes: (string | string[])[] } {
  const scopes: (string | string[])[] = [];
  return {
    scopes,
    async getToken(scope: string | string[]): Promise<AccessToken> {
      scopes.push(scope);
      return { token, expiresOnTimestamp: Date.now() + 3_600_000 };
    },
  };
}
