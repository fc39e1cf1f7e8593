// A small listener registry; a throwing listener never breaks the client or other listeners.

export class Emitter {
  #listeners = new Map();

  on(type, listener) {
    if (typeof listener !== "function") {
      throw new TypeError(
        `listener for "${type}" must be a function: ${listener}`,
      );
    }
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  emit(type, ...args) {
    const set = this.#listeners.get(type);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(...args);
      } catch (err) {
        // Report without breaking the stream; a listener bug is the app's, not a transport failure.
        setTimeout(() => {
          throw err;
        });
      }
    }
  }
}
