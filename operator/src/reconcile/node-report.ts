// What a node says about itself (its ClusterInfo), as the reconciler uses it.

export interface NodeInfo {
  ringHash: string;
  members: string[];
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
