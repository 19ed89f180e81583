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
}

export interface NodeReport {
  pod: string;
  /** The node answered ClusterInfo. */
  reachable: boolean;
  /** Why it did not answer. */
  error?: string;
  info?: NodeInfo;
}
