/**
 * The Durable extension's HTTP API (the one durable-functions' `DurableClient` speaks, at the binding's
 * `rpcBaseUrl`) over a `TaskHub`, on loopback, so the compiled app's client functions (the timer, the starters,
 * the status endpoints) run with the real client library against the hub. Answers as the extension's
 * HttpApiHandler does (read in Azure/azure-functions-durable-extension):
 *
 * - `POST orchestrators/{name}/{id}`: 202 with the management payload; a start the task hub refuses (an active id,
 *   `NonRunningStates`) is an exception there, which the handler answers with 500;
 * - `GET instances/{id}`: 202 while pending or running, 200 once finished (failed included), 404 for an unknown id;
 *   times in whole seconds (`ToString("s") + "Z"`); `showInput` defaults to true;
 * - `GET instances/`: one page (`top`, `x-ms-continuation-token`), filtered on created time and runtime status;
 * - `POST instances/{id}/terminate`: 202, 410 once finished, 404 unknown.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Execution, TaskHub } from './task-hub';

const BASE_PATH = '/runtime/webhooks/durabletask/';

export interface ExtensionApi {
  /** What the host puts in a durable client binding: the client's data. */
  readonly clientData: Record<string, unknown>;
  /** Every request, as `METHOD path`. */
  readonly requests: string[];
  close(): Promise<void>;
}

function seconds(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

function payload(execution: Execution, showInput: boolean) {
  return {
    name: execution.name,
    instanceId: execution.instanceId,
    runtimeStatus: execution.runtimeStatus,
    input: showInput ? (execution.input ?? null) : null,
    customStatus: execution.customStatus ?? null,
    output:
      execution.runtimeStatus === 'Failed'
        ? (execution.error ?? null)
        : execution.runtimeStatus === 'Completed' || execution.runtimeStatus === 'Terminated'
          ? (execution.output ?? null)
          : null,
    createdTime: seconds(execution.createdTime),
    lastUpdatedTime: seconds(execution.lastUpdatedTime),
  };
}

const FINISHED = new Set(['Completed', 'Failed', 'Terminated', 'Canceled']);

export async function startExtensionApi(hub: TaskHub, taskHubName = 'bnttest'): Promise<ExtensionApi> {
  const requests: string[] = [];
  const server = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const url = new URL(request.url ?? '/', 'http://127.0.0.1');
      requests.push(`${request.method} ${url.pathname}${url.search}`);
      const send = (status: number, value?: unknown, headers: Record<string, string> = {}) => {
        response.writeHead(status, { 'content-type': 'application/json', ...headers });
        response.end(value === undefined ? '' : JSON.stringify(value));
      };
      const path = decodeURIComponent(url.pathname.slice(BASE_PATH.length));
      const [collection, id, action] = path.split('/');
      try {
        if (request.method === 'POST' && collection === 'orchestrators' && id && action) {
          try {
            hub.startNew(id, action, body === '' ? undefined : JSON.parse(body));
          } catch (error) {
            send(500, {
              Message: 'Something went wrong while processing your request',
              ExceptionMessage: String(error),
            });
            return;
          }
          send(202, { id: action, statusQueryGetUri: `${BASE_PATH}instances/${action}` });
          return;
        }
        if (request.method === 'GET' && collection === 'instances' && id) {
          const execution = hub.execution(id);
          if (!execution) return send(404);
          const active = !FINISHED.has(execution.runtimeStatus);
          send(active ? 202 : 200, payload(execution, url.searchParams.get('showInput') !== 'false'));
          return;
        }
        if (request.method === 'GET' && collection === 'instances' && !id) {
          const from = Date.parse(url.searchParams.get('createdTimeFrom') ?? '') || -Infinity;
          const to = Date.parse(url.searchParams.get('createdTimeTo') ?? '') || Infinity;
          const statuses = url.searchParams.get('runtimeStatus')?.split(',');
          const top = Number(url.searchParams.get('top') ?? 100);
          const offset = Number(request.headers['x-ms-continuation-token'] ?? 0);
          const current = [...new Set(hub.executions.map((execution) => execution.instanceId))]
            .map((instanceId) => hub.execution(instanceId) as Execution)
            .filter(
              (execution) =>
                execution.createdTime.getTime() >= from &&
                execution.createdTime.getTime() <= to &&
                (!statuses || statuses.includes(execution.runtimeStatus)),
            );
          const page = current.slice(offset, offset + top);
          const next = offset + top < current.length ? String(offset + top) : 'null';
          send(
            200,
            page.map((execution) => payload(execution, url.searchParams.get('showInput') !== 'false')),
            { 'x-ms-continuation-token': next },
          );
          return;
        }
        if (request.method === 'POST' && collection === 'instances' && id && action === 'terminate') {
          const execution = hub.execution(id);
          if (!execution) return send(404);
          if (FINISHED.has(execution.runtimeStatus)) return send(410);
          hub.terminate(id, url.searchParams.get('reason') ?? '');
          send(202);
          return;
        }
        send(404);
      } catch (error) {
        send(500, { Message: String(error) });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    clientData: {
      taskHubName,
      creationUrls: {},
      managementUrls: {},
      baseUrl: `${origin}${BASE_PATH}`,
      requiredQueryStringParameters: '',
      rpcBaseUrl: `${origin}${BASE_PATH}`,
    },
    requests,
    close: () =>
      new Promise((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
