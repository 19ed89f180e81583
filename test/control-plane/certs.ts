// Per-run PKI for a test control plane, made with the system's openssl:
// a CA, the API server's serving certificate (loopback names), an admin
// client certificate (system:masters), and the service-account signing key.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Pki {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  adminCert: string;
  adminKey: string;
  saKey: string;
  saPub: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run('openssl', args, { cwd });
  } catch (err) {
    const e = err as { stderr?: string; code?: string };
    if (e.code === 'ENOENT')
      throw new Error('openssl is required by the test harness (apt-get install openssl)', { cause: err });
    throw new Error(`openssl ${args[0]} failed: ${e.stderr ?? String(err)}`, { cause: err });
  }
}

async function keyAndCert(
  dir: string,
  name: string,
  subject: string,
  ext: string,
  pki: { caCert: string; caKey: string },
): Promise<{ cert: string; key: string }> {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.crt`);
  const extFile = join(dir, `${name}.ext`);
  await writeFile(extFile, ext);
  await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key], dir);
  await openssl(['req', '-new', '-key', key, '-subj', subject, '-out', csr], dir);
  await openssl(
    [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      pki.caCert,
      '-CAkey',
      pki.caKey,
      '-CAcreateserial',
      '-days',
      '2',
      '-out',
      cert,
      '-extfile',
      extFile,
    ],
    dir,
  );
  return { cert, key };
}

export async function generatePki(dir: string): Promise<Pki> {
  const caKey = join(dir, 'ca.key');
  const caCert = join(dir, 'ca.crt');
  await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', caKey], dir);
  await openssl(
    [
      'req',
      '-x509',
      '-new',
      '-key',
      caKey,
      '-subj',
      '/CN=kvring-test-ca',
      '-days',
      '2',
      '-out',
      caCert,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  const ca = { caCert, caKey };
  const server = await keyAndCert(
    dir,
    'apiserver',
    '/CN=kube-apiserver',
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc',
    ].join('\n'),
    ca,
  );
  const admin = await keyAndCert(
    dir,
    'admin',
    '/O=system:masters/CN=kvring-test-admin',
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=clientAuth',
    ].join('\n'),
    ca,
  );
  const saKey = join(dir, 'sa.key');
  const saPub = join(dir, 'sa.pub');
  await openssl(['genrsa', '-out', saKey, '2048'], dir);
  await openssl(['rsa', '-in', saKey, '-pubout', '-out', saPub], dir);
  return {
    dir,
    caCert,
    caKey,
    serverCert: server.cert,
    serverKey: server.key,
    adminCert: admin.cert,
    adminKey: admin.key,
    saKey,
    saPub,
  };
}

/** A client certificate for another user (RBAC tests: a user who is not an admin). */
export async function clientCertificate(
  pki: Pki,
  name: string,
  user: string,
  groups: readonly string[] = [],
): Promise<{ cert: string; key: string }> {
  const subject = `${groups.map((g) => `/O=${g}`).join('')}/CN=${user}`;
  return keyAndCert(
    pki.dir,
    name,
    subject,
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=clientAuth',
    ].join('\n'),
    pki,
  );
}
