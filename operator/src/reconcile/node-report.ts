// What a node says about itself (its ClusterInfo), as the reconciler uses it.

export interface NodeInfo {
  ringHash: string;
  members: string[];
  /**
   * Members that own part of the ring but that this node sees down: right
   * after a pod restarted, its peers see it down until their streams to it
   * are up again (absent: not reported).
   */
  ownersDown?: string[];
  postgresReachable: boolean;
  legacyApiReachable: boolean;
  draining: boolean;
  hintsPending: number;
  /** The node process's incarnation (new on every start). */
  incarnation?: string;
  /** What its warm-up at start loaded (absent while it runs). */
  warmup?: WarmupInfo;
}

export interface WarmupInfo {
  keys: number;
  bytes: number;
  durationMs: number;
  source: string;
  stopped: string;
}

export interface NodeReport {
  pod: string;
  /** The node answered ClusterInfo. */
  reachable: boolean;
  /** Why it did not answer. */
  error?: string;
  info?: NodeInfo;
}
