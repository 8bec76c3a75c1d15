/** One message a fuzz connection sends, labelled with its kind so a run can say what it threw. */
export interface Shot {
  /** e.g. "random:json", "mutated:election", "hostile:selfLeader", "inspect:actorFlood". */
  kind: string;
  data: string | Buffer;
  binary: boolean;
}

export function textShot(kind: string, data: string): Shot {
  return { kind, data, binary: false };
}
