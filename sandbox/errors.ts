/** Base of every sandbox error; `code` is stable and safe to show to users and to match on. */
export class SandboxError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The sandbox stopped answering: its main process died, it ran out of memory, or it was removed. */
export class SandboxGoneError extends SandboxError {
  constructor(reason: string, options?: ErrorOptions) {
    super('ERR_SANDBOX_GONE', `sandbox is gone: ${reason}`, options);
  }
}

/**
 * The sandbox was stopped from outside its mission: Docker restarted or was unreachable, or someone killed it
 * through Docker. Not the mission's doing, so the mission goes on in a new sandbox.
 */
export class SandboxLostError extends SandboxError {
  constructor(reason: string, options?: ErrorOptions) {
    super('ERR_SANDBOX_LOST', `sandbox was lost: ${reason}`, options);
  }
}

/** The sandbox could not be created or started. */
export class SandboxStartError extends SandboxError {
  constructor(reason: string, options?: ErrorOptions) {
    super('ERR_SANDBOX_START', `sandbox could not start: ${reason}`, options);
  }
}

/** The sandbox is fine but refused one request: a path outside /workspace, a missing file, no process left to spawn. */
export class SandboxRequestError extends SandboxError {
  constructor(reason: string, options?: ErrorOptions) {
    super('ERR_SANDBOX_REQUEST', reason, options);
  }
}

/**
 * The sandbox wrote more to its step channel than the request allows, or a header with no end: only mission code
 * can (it can open the channel's stdout). The sandbox is closed and the mission fails; nothing is retried.
 */
export class SandboxFloodError extends SandboxError {
  constructor(reason: string, options?: ErrorOptions) {
    super('ERR_SANDBOX_FLOOD', `the sandbox flooded its step channel: ${reason}`, options);
  }
}
