// An error answer of the Kubernetes API, with the fields callers branch on.

export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';

  constructor(
    /** HTTP status (0 when the request never got an answer). */
    readonly statusCode: number,
    /** metav1.Status reason: NotFound, AlreadyExists, Conflict, Invalid, Forbidden, Expired, ... */
    readonly reason: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }

  get isNotFound(): boolean {
    return this.statusCode === 404;
  }
  get isConflict(): boolean {
    return this.statusCode === 409 && this.reason !== 'AlreadyExists';
  }
  get isAlreadyExists(): boolean {
    return this.statusCode === 409 && this.reason === 'AlreadyExists';
  }
  /** The resourceVersion a watch or list asked for is too old. */
  get isGone(): boolean {
    return this.statusCode === 410 || this.reason === 'Expired' || this.reason === 'Gone';
  }
  get isForbidden(): boolean {
    return this.statusCode === 403;
  }
  get isInvalid(): boolean {
    return this.statusCode === 422;
  }
}

export function isNotFound(err: unknown): boolean {
  return err instanceof KubeApiError && err.isNotFound;
}

export function isConflict(err: unknown): boolean {
  return err instanceof KubeApiError && err.isConflict;
}

/** Builds the error from a metav1.Status body (or whatever the server sent). */
export function apiErrorFrom(statusCode: number, body: unknown, fallback: string): KubeApiError {
  if (body && typeof body === 'object' && (body as { kind?: string }).kind === 'Status') {
    const s = body as { reason?: string; message?: string; code?: number; details?: unknown };
    return new KubeApiError(s.code ?? statusCode, s.reason ?? '', s.message ?? fallback, s.details);
  }
  return new KubeApiError(statusCode, '', typeof body === 'string' && body ? body.slice(0, 500) : fallback);
}
