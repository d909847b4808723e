/** A template used something this expander does not implement, or used it wrongly. */
export class ExpansionError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'ExpansionError';
  }
}
