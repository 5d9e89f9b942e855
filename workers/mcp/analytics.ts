/**
 * One Analytics Engine data point per JSON-RPC message. The layout (blob and double
 * positions) is a storage format: docs/analytics.md documents it and its SQL.
 */
export interface MessagePoint {
  server: string;
  method: string;
  /** Tool, prompt or resource name, when the message names one. */
  name: string;
  /** allowed | denied | not_allowed | unknown_name | no_access | unknown_method | invalid | unauthenticated */
  decision: string;
  principal: string;
  /** success | error | refused | upstream_error */
  status: string;
  protocolVersion: string;
  authMethod: string;
  durationMs: number;
  requestBytes: number;
  responseBytes: number;
}

export function writePoint(dataset: AnalyticsEngineDataset, p: MessagePoint): void {
  dataset.writeDataPoint({
    indexes: [p.server],
    blobs: [p.server, p.method, p.name, p.decision, p.principal, p.status, p.protocolVersion, p.authMethod],
    doubles: [p.durationMs, p.requestBytes, p.responseBytes],
  });
}
