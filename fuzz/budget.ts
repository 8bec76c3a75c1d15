/**
 * How many messages a run may still send, shared by every fuzz connection, and the ration of
 * heavy ones (a sizeable part of a payload limit each: giant election laps, oversized frames),
 * which would otherwise turn a fuzz run into a bandwidth test.
 */
export class Budget {
  private sent = 0;
  private heavySent = 0;

  constructor(
    readonly total: number,
    private readonly heavyMax: number,
  ) {}

  get remaining(): number {
    return this.total - this.sent;
  }

  get spent(): number {
    return this.sent;
  }

  get exhausted(): boolean {
    return this.sent >= this.total;
  }

  /** Up to `wanted` messages, fewer when the budget runs out. */
  take(wanted: number): number {
    const granted = Math.max(0, Math.min(wanted, this.total - this.sent));
    this.sent += granted;
    return granted;
  }

  /** Gives back messages taken but not sent (a socket that filled up or closed). */
  refund(count: number): void {
    this.sent -= count;
  }

  /**
   * Heavy messages go out in the first four fifths of the run only: what one leaves behind in a
   * heap is transient, and memory is measured right after the run.
   */
  get heavyAllowed(): boolean {
    return this.heavySent < this.heavyMax && this.sent < this.total * 0.8;
  }

  spendHeavy(): void {
    this.heavySent += 1;
  }
}
