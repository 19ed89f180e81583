// The Secrets a cluster refers to. A missing Secret or key is not a crash
// and not a silent pod failure (CreateContainerConfigError): it becomes a
// Degraded condition that names the Secret, the field that refers to it and
// the command that fixes it, and the reconcile retries (and runs again as
// soon as the Secret appears, through the Secret watch).
import type { V1Secret } from '@kubernetes/client-node';
import type { ResolvedSpec } from '../api/types.js';
import { hashOf } from '../builders/hash.js';
import type { NodeSecurity } from '../node-client.js';
import type { Problem } from './status.js';
import { checkHeaders } from './tracing-check.js';

export interface SecretRef {
  /** The spec field, for messages. */
  field: string;
  secret: string;
  /** Keys that must be present. */
  keys: string[];
  /** Mounted as files the nodes reload: a new version restarts no pod. */
  reloaded?: boolean;
}

export function secretRefs(spec: ResolvedSpec): SecretRef[] {
  const refs: SecretRef[] = [];
  const pg = spec.postgres;
  if (pg.credentialsSecret)
    refs.push({
      field: 'spec.postgres.credentialsSecret',
      secret: pg.credentialsSecret.name,
      keys: [pg.credentialsSecret.usernameKey, pg.credentialsSecret.passwordKey],
    });
  if (pg.urlSecret)
    refs.push({ field: 'spec.postgres.urlSecret', secret: pg.urlSecret.name, keys: [pg.urlSecret.key] });
  if (spec.legacyApi?.tokenSecret)
    refs.push({
      field: 'spec.legacyApi.tokenSecret',
      secret: spec.legacyApi.tokenSecret.name,
      keys: [spec.legacyApi.tokenSecret.key],
    });
  if (spec.tls)
    refs.push({
      field: 'spec.tls.secretName',
      secret: spec.tls.secretName,
      keys: ['tls.crt', 'tls.key'],
      reloaded: true,
    });
  if (spec.auth)
    refs.push({
      field: 'spec.auth.tokenSecret',
      secret: spec.auth.tokenSecret.name,
      keys: [spec.auth.tokenSecret.key],
      reloaded: true,
    });
  const headers = spec.tracing?.headersSecret;
  if (headers) refs.push({ field: 'spec.tracing.headersSecret', secret: headers.name, keys: [headers.key] });
  return refs;
}

/** Secret names a cluster refers to (to map a Secret event to the clusters it affects). */
export function referencedSecretNames(spec: ResolvedSpec): Set<string> {
  return new Set(secretRefs(spec).map((r) => r.secret));
}

export interface SecretCheck {
  problem?: Problem;
  /** Digest of the referenced Secrets' resourceVersions. */
  secretsHash: string;
  tlsHasCa: boolean;
  /** How the operator itself reaches the nodes. */
  security: NodeSecurity;
}

function decode(secret: V1Secret, key: string): string | undefined {
  const b64 = secret.data?.[key];
  if (b64 !== undefined) return Buffer.from(b64, 'base64').toString('utf8');
  return secret.stringData?.[key];
}

/**
 * The token the operator sends: the first of the key's lines (the nodes
 * accept every line). A rotation appends the new token, waits for the pods'
 * files to follow, then removes the old one: the operator moves to the new
 * token only once the old one is gone, when every node has the new one.
 */
function firstToken(text: string | undefined): string | undefined {
  return text
    ?.split('\n')
    .map((l) => l.trim())
    .find((l) => l !== '' && !l.startsWith('#'));
}

/** Checks every reference against the Secrets found (undefined = not found). */
export function checkSecrets(
  spec: ResolvedSpec,
  namespace: string,
  secrets: ReadonlyMap<string, V1Secret | undefined>,
): SecretCheck {
  const refs = secretRefs(spec);
  let problem: Problem | undefined;
  for (const ref of refs) {
    const s = secrets.get(ref.secret);
    const literals = ref.keys.map((k) => `--from-literal=${k}=...`).join(' ');
    if (!s && ref.field === 'spec.tls.secretName' && spec.tls?.issuerRef) {
      problem = {
        reason: 'CertificateNotIssued',
        message:
          `Secret "${ref.secret}" is issued by cert-manager (${spec.tls.issuerRef.kind} ` +
          `"${spec.tls.issuerRef.name}") and does not exist yet: the Certificate's status says why ` +
          `(kubectl -n ${namespace} get certificates -o wide)`,
      };
      break;
    }
    if (!s) {
      problem = {
        reason: 'SecretNotFound',
        message:
          `Secret "${ref.secret}" (${ref.field}) was not found in namespace "${namespace}". Create it with ` +
          `the key(s) ${ref.keys.join(', ')}, e.g. kubectl -n ${namespace} create secret generic ${ref.secret} ${literals}`,
      };
      break;
    }
    const missing = ref.keys.filter((k) => decode(s, k) === undefined);
    if (missing.length > 0) {
      problem = {
        reason: 'SecretKeyMissing',
        message:
          `Secret "${ref.secret}" (${ref.field}) in namespace "${namespace}" has no key ` +
          `${missing.join(', ')} (it has: ${Object.keys(s.data ?? {}).join(', ') || 'none'})`,
      };
      break;
    }
  }
  const headersRef = spec.tracing?.headersSecret;
  const headersSecret = headersRef && secrets.get(headersRef.name);
  const headers = headersRef && headersSecret ? decode(headersSecret, headersRef.key) : undefined;
  if (!problem && headersRef && headers !== undefined)
    problem = checkHeaders(
      headers,
      `Secret "${headersRef.name}" key "${headersRef.key}" (spec.tracing.headersSecret) in namespace "${namespace}"`,
    );
  // resourceVersions, not a digest of the values: a short hash of a
  // password in a pod annotation would invite offline guessing.
  const rolling = refs.filter((r) => !r.reloaded);
  const versions = rolling.map((r) => [r.secret, secrets.get(r.secret)?.metadata?.resourceVersion ?? '']);
  const tlsSecret = spec.tls ? secrets.get(spec.tls.secretName) : undefined;
  const caPem = tlsSecret ? decode(tlsSecret, 'ca.crt') : undefined;
  // The nodes' own pair: the operator presents it on the peer port (mutual
  // TLS: Drain is served only to holders of a certificate the CA signed).
  const certPem = tlsSecret ? decode(tlsSecret, 'tls.crt') : undefined;
  const keyPem = tlsSecret ? decode(tlsSecret, 'tls.key') : undefined;
  const authSecret = spec.auth ? secrets.get(spec.auth.tokenSecret.name) : undefined;
  const token =
    authSecret && spec.auth ? firstToken(decode(authSecret, spec.auth.tokenSecret.key)) : undefined;
  return {
    ...(problem && { problem }),
    secretsHash: rolling.length > 0 ? hashOf(versions) : '',
    tlsHasCa: caPem !== undefined,
    security: {
      ...(token && { token }),
      ...(spec.tls && {
        tls: { ...(caPem && { caPem }), ...(certPem && keyPem && { peerPair: { certPem, keyPem } }) },
      }),
    },
  };
}
