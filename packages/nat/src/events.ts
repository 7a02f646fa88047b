/** Typed control events of the NAT (never one per packet). */
import type { ExpectationRecord, ForwardRecord, MappingRecord } from './records.js';

/** Event names and listener signatures of {@link Nat}. */
export interface NatEvents {
  /** A mapping (and its first session, if any) was created. */
  'mapping-created': (m: MappingRecord) => void;
  /** A session timed out (the record is the session as it was). */
  'mapping-expired': (m: MappingRecord) => void;
  /** A session or mapping was removed for another reason (tenant cleanup, eviction, forward removal). */
  'mapping-removed': (m: MappingRecord) => void;
  'expectation-added': (e: ExpectationRecord) => void;
  'expectation-used': (e: ExpectationRecord) => void;
  'expectation-expired': (e: ExpectationRecord) => void;
  'forward-added': (f: ForwardRecord) => void;
  'forward-removed': (f: ForwardRecord) => void;
  /** A forward's lease (`leaseMs`) ran out and the NAT removed it. */
  'forward-expired': (f: ForwardRecord) => void;
}
