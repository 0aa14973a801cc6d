/**
 * A local HTTPS stand-in for the Azure Key Vault *secrets* REST API.
 *
 * It speaks just enough of the wire protocol that the real `SecretClient` from
 * `@azure/keyvault-secrets` works against it unchanged, so code built on that
 * client can be tested through the real SDK (request shaping, challenge
 * authentication, error mapping, paging) rather than through a mock of it.
 *
 * Supported: set (PUT), get latest / get version (GET), list (GET /secrets,
 * with nextLink paging). Anything else answers 501 so a missing feature shows
 * up as an obvious failure instead of a misleading 404.
 *
 * Known differences from the real service: secret names are case-sensitive
 * here (Key Vault treats them case-insensitively); no soft-delete, disabled
 * secrets, expiry enforcement or value size limits.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/identity';
import type { SecretClientOptions } from '@azure/keyvault-secrets';
import { testCertificate } from './test-certificate';

/** Tenant named in the challenge; the SDK passes it back to `getToken` as `tenantId`. */
export const STANDIN_TENANT_ID = '00000000-0000-0000-0000-00000000beef';
/** The resource the challenge names, exactly as the real service does. */
export const VAULT_RESOURCE = 'https://vault.azure.net';
/** The scope the SDK derives from that resource (`resource + "/.default"`). */
export const VAULT_SCOPE = `${VAULT_RESOURCE}/.default`;

export interface RecordedRequest {
  method: string;
  /** URL path without the query string, still percent-encoded as sent. */
  path: string;
  /** True when the request carried the bearer token the stand-in hands out. */
  authorized: boolean;
}

export interface TokenRequest {
  scopes: string[];
  tenantId: string | undefined;
}

/** A credential that only hands out a token the stand-in accepts, and records every request for one. */
export class FakeTokenCredential implements TokenCredential {
  readonly tokenRequests: TokenRequest[] = [];

  constructor(private readonly acceptedToken: string) {}

  async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken> {
    const scopeList = typeof scopes === 'string' ? [scopes] : [...scopes];
    this.tokenRequests.push({ scopes: scopeList, tenantId: options?.tenantId });
    // Only the vault scope yields a usable token, as Entra ID would issue a token
    // for a different audience that Key Vault then rejects.
    const token = scopeList.includes(VAULT_SCOPE) ? this.acceptedToken : `wrong-audience-${randomUUID()}`;
    return { token, expiresOnTimestamp: Date.now() + 60 * 60 * 1000, tokenType: 'Bearer' };
  }
}

export interface KeyVaultStandIn {
  /** `https://127.0.0.1:<port>` — an IP literal so there is no localhost → ::1 ambiguity. */
  readonly vaultUrl: string;
  /**
   * Current value per secret name. This map is the source of truth for "what is
   * set": tests may seed or delete entries directly, and a value changed here
   * shows up as a new version on the next read.
   */
  readonly secrets: Map<string, string>;
  readonly requests: RecordedRequest[];
  readonly credential: FakeTokenCredential;
  /** PEM of the self-signed certificate the server presents (it is its own CA). */
  readonly caCertificate: string;
  /** The options `new SecretClient(vaultUrl, credential, options)` needs to talk to this stand-in. */
  secretClientOptions(): SecretClientOptions;
  close(): Promise<void>;
}

/** Options a `SecretClient` needs for this stand-in; see `KeyVaultStandIn.secretClientOptions`. */
export function secretClientOptions(standIn: Pick<KeyVaultStandIn, 'caCertificate'>): SecretClientOptions {
  return {
    // Trust the stand-in's self-signed certificate for this client only: the
    // pipeline's tlsPolicy puts this on the request and the Node HTTP client
    // builds an https.Agent from it. Nothing process-wide is relaxed.
    tlsOptions: { ca: standIn.caCertificate },
    // The challenge names https://vault.azure.net, and by default the SDK insists
    // the vault host is a subdomain of that (`*.vault.azure.net`); 127.0.0.1 is not.
    disableChallengeResourceVerification: true,
  };
}

const SECRET_NAME = /^[0-9a-zA-Z-]{1,127}$/;
/** Key Vault's page size ceiling for list operations (and its default). */
const MAX_PAGE_SIZE = 25;

interface SecretVersion {
  version: string;
  value: string;
  contentType?: string;
  tags?: Record<string, string>;
  enabled: boolean;
  nbf?: number;
  exp?: number;
  /** Unix seconds, which is what the service sends and the SDK deserialises. */
  created: number;
  updated: number;
}

type ErrorCode = 'BadParameter' | 'SecretNotFound' | 'Unauthorized' | 'NotImplementedByStandIn';

export async function startKeyVaultStandIn(): Promise<KeyVaultStandIn> {
  const { key, cert } = await testCertificate();
  const acceptedToken = `standin-${randomUUID()}`;
  const credential = new FakeTokenCredential(acceptedToken);
  const secrets = new Map<string, string>();
  const history = new Map<string, SecretVersion[]>();
  const requests: RecordedRequest[] = [];
  let vaultUrl = ''; // known once the server is listening

  function addVersion(name: string, fields: Omit<SecretVersion, 'version' | 'created' | 'updated'>): SecretVersion {
    const now = Math.floor(Date.now() / 1000);
    const entry: SecretVersion = { ...fields, version: randomBytes(16).toString('hex'), created: now, updated: now };
    const versions = history.get(name) ?? [];
    versions.push(entry);
    history.set(name, versions);
    secrets.set(name, entry.value);
    return entry;
  }

  /** The latest version, reconciled with `secrets` in case a test wrote to the map directly. */
  function latestVersion(name: string): SecretVersion | undefined {
    const value = secrets.get(name);
    if (value === undefined) return undefined;
    const last = history.get(name)?.at(-1);
    if (last !== undefined && last.value === value) return last;
    return addVersion(name, { value, enabled: true });
  }

  function secretId(name: string, version?: string): string {
    return version === undefined ? `${vaultUrl}/secrets/${name}` : `${vaultUrl}/secrets/${name}/${version}`;
  }

  /** Shared by bundles and list items; the list omits `value` and the version in `id`. */
  function describe(name: string, entry: SecretVersion, withVersion: boolean) {
    return {
      id: secretId(name, withVersion ? entry.version : undefined),
      ...(entry.contentType !== undefined && { contentType: entry.contentType }),
      ...(entry.tags !== undefined && { tags: entry.tags }),
      attributes: {
        enabled: entry.enabled,
        ...(entry.nbf !== undefined && { nbf: entry.nbf }),
        ...(entry.exp !== undefined && { exp: entry.exp }),
        created: entry.created,
        updated: entry.updated,
        recoveryLevel: 'Recoverable+Purgeable',
        recoverableDays: 90,
      },
    };
  }

  function bundle(name: string, entry: SecretVersion) {
    return { value: entry.value, ...describe(name, entry, true) };
  }

  function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  }

  function sendError(
    res: ServerResponse,
    status: number,
    code: ErrorCode,
    message: string,
    headers?: Record<string, string>,
  ): void {
    send(res, status, { error: { code, message } }, headers);
  }

  function notFound(res: ServerResponse, name: string): void {
    sendError(
      res,
      404,
      'SecretNotFound',
      `A secret with (name/id) ${name} was not found in this key vault. ` +
        'If you recently deleted this secret you may be able to recover it using the correct recovery command.',
    );
  }

  function listSecrets(url: URL, res: ServerResponse): void {
    const requested = url.searchParams.get('maxresults');
    const pageSize = requested === null ? MAX_PAGE_SIZE : Number(requested);
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE) {
      sendError(res, 400, 'BadParameter', `maxresults must be an integer between 1 and ${MAX_PAGE_SIZE}.`);
      return;
    }
    // The skip token is opaque to clients; here it is simply the offset into the sorted names.
    const offset = Number(url.searchParams.get('$skiptoken') ?? '0');
    if (!Number.isInteger(offset) || offset < 0) {
      sendError(res, 400, 'BadParameter', 'The $skiptoken is not one this vault issued.');
      return;
    }
    const names = [...secrets.keys()].sort();
    const items = names.slice(offset, offset + pageSize).flatMap((name) => {
      const entry = latestVersion(name);
      return entry === undefined ? [] : [describe(name, entry, false)];
    });
    const nextOffset = offset + pageSize;
    const apiVersion = url.searchParams.get('api-version') ?? '';
    const nextLink =
      nextOffset < names.length
        ? `${vaultUrl}/secrets?api-version=${encodeURIComponent(apiVersion)}&$skiptoken=${nextOffset}&maxresults=${pageSize}`
        : null;
    send(res, 200, { value: items, nextLink });
  }

  function setSecret(name: string, body: unknown, res: ServerResponse): void {
    if (!isRecord(body) || typeof body['value'] !== 'string') {
      sendError(res, 400, 'BadParameter', 'The request body must be a JSON object with a string "value".');
      return;
    }
    const attributes = isRecord(body['attributes']) ? body['attributes'] : {};
    const entry = addVersion(name, {
      value: body['value'],
      enabled: attributes['enabled'] !== false,
      ...(typeof body['contentType'] === 'string' && { contentType: body['contentType'] }),
      ...(isRecord(body['tags']) && { tags: stringValues(body['tags']) }),
      ...(typeof attributes['nbf'] === 'number' && { nbf: attributes['nbf'] }),
      ...(typeof attributes['exp'] === 'number' && { exp: attributes['exp'] }),
    });
    send(res, 200, bundle(name, entry));
  }

  function getSecret(name: string, version: string, res: ServerResponse): void {
    const latest = latestVersion(name);
    const entry = version === '' ? latest : latest && history.get(name)?.find((v) => v.version === version);
    if (entry === undefined) {
      notFound(res, version === '' ? name : `${name}/${version}`);
      return;
    }
    send(res, 200, bundle(name, entry));
  }

  function route(req: IncomingMessage, url: URL, body: unknown, res: ServerResponse): void {
    const method = req.method ?? 'GET';
    // Decode per segment so an encoded "/" inside a name stays part of the name (and fails validation).
    const segments = url.pathname.split('/').slice(1).map(decodeSegment);
    if (segments[0] !== 'secrets') {
      return sendError(
        res,
        501,
        'NotImplementedByStandIn',
        `${method} ${url.pathname} is not implemented by the stand-in.`,
      );
    }
    if (segments.some((s) => s === undefined)) {
      return sendError(res, 400, 'BadParameter', `The request URI is malformed: ${url.pathname}`);
    }
    const [, name, version, ...rest] = segments as string[];

    if (name === undefined || (name === '' && version === undefined)) {
      // "/secrets" or "/secrets/"; an empty name with more path after it falls through to the name check.
      if (method === 'GET') return listSecrets(url, res);
    } else if (!SECRET_NAME.test(name)) {
      return sendError(res, 400, 'BadParameter', `The request URI contains an invalid name: ${name}`);
    } else if (rest.length === 0 && version === undefined && method === 'PUT') {
      return setSecret(name, body, res);
    } else if (rest.length === 0 && version !== 'versions' && method === 'GET') {
      // `getSecret` without a version sends "/secrets/<name>/" — the empty segment means latest.
      return getSecret(name, version ?? '', res);
    }
    sendError(res, 501, 'NotImplementedByStandIn', `${method} ${url.pathname} is not implemented by the stand-in.`);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', vaultUrl);
    const authorized = req.headers.authorization === `Bearer ${acceptedToken}`;
    requests.push({ method: req.method ?? '', path: url.pathname, authorized });
    const raw = await readBody(req);

    if (!authorized) {
      // The challenge the SDK's keyVaultAuthenticationPolicy parses: it asks the
      // credential for `${resource}/.default` with the tenant from `authorization`.
      const challenge = `Bearer authorization="https://login.microsoftonline.com/${STANDIN_TENANT_ID}", resource="${VAULT_RESOURCE}"`;
      const message = req.headers.authorization
        ? 'The bearer token was not issued by the stand-in credential.'
        : 'Request is missing a Bearer or PoP token.';
      return sendError(res, 401, 'Unauthorized', message, { 'www-authenticate': challenge });
    }
    if (url.searchParams.get('api-version') === null) {
      return sendError(res, 400, 'BadParameter', 'The api-version query parameter is required.');
    }

    let body: unknown;
    try {
      body = raw.length === 0 ? undefined : JSON.parse(raw);
    } catch {
      return sendError(res, 400, 'BadParameter', 'The request body is not valid JSON.');
    }
    route(req, url, body, res);
  }

  const server = https.createServer({ key, cert }, (req, res) => {
    handle(req, res).catch((error: unknown) => {
      // A bug in the stand-in should fail the test loudly, not hang it.
      if (!res.headersSent) send(res, 500, { error: { code: 'StandInFailure', message: String(error) } });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  vaultUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const standIn: KeyVaultStandIn = {
    vaultUrl,
    secrets,
    requests,
    credential,
    caCertificate: cert,
    secretClientOptions: () => secretClientOptions(standIn),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // The SDK's agent keeps connections alive; without this close() would wait for them to idle out.
        server.closeAllConnections();
      }),
  };
  return standIn;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined; // malformed percent-encoding
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringValues(record: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, String(v)]));
}
