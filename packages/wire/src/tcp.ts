/** Placeholder: being written. */
export {};
