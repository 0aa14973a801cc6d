import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

/** A key and the self-signed certificate that goes with it, both PEM; the certificate is its own CA. */
export interface TestCertificate {
  readonly key: string;
  readonly cert: string;
}

let certificate: Promise<TestCertificate> | undefined;

/**
 * A throwaway key and self-signed certificate for 127.0.0.1 and localhost, made with openssl at test time (no
 * extra npm dependency), valid for a day. Clients trust it only where a test says so. Memoised per process:
 * generation costs a child process, and every loopback stand-in in a test file can share one certificate.
 */
export function testCertificate(): Promise<TestCertificate> {
  certificate ??= (async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'test-certificate-'));
    try {
      const keyFile = path.join(dir, 'key.pem');
      const certFile = path.join(dir, 'cert.pem');
      // EC keys generate much faster than RSA, which keeps start-up quick.
      await promisify(execFile)('openssl', [
        'req',
        '-x509',
        '-nodes',
        '-days',
        '1',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-keyout',
        keyFile,
        '-out',
        certFile,
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
      ]);
      return { key: await readFile(keyFile, 'utf8'), cert: await readFile(certFile, 'utf8') };
    } finally {
      // The PEMs live in memory from here on; leave nothing in /tmp.
      await rm(dir, { recursive: true, force: true });
    }
  })();
  // Do not memoise a failure: a later caller should get to retry.
  certificate.catch(() => {
    certificate = undefined;
  });
  return certificate;
}
