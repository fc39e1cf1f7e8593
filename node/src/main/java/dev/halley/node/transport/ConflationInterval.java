package dev.halley.node.transport;

import dev.halley.node.config.NodeConfig;
import dev.halley.node.wire.HttpError;
import dev.halley.node.wire.Params;
import io.undertow.server.HttpServerExchange;

/**
 * The {@code conflationIntervalMs} query parameter of the four transports (docs/protocol.md,
 * "Frequency limit"): at most one message per conflation key per interval, 0 (the default) for no
 * limit.
 *
 * <pre>{@code
 * long ms = ConflationInterval.of(exchange, node.config); // 400 if bad
 * }</pre>
 */
public final class ConflationInterval {
  private ConflationInterval() {}

  /**
   * The interval the request asks for, ms (0 when absent), at most {@code conflationIntervalMaxMs}
   * and {@code heartbeatMs} (events wait behind a held message, heartbeats included).
   *
   * @throws HttpError 400 {@code bad_request} unless it is an integer in that range
   */
  public static long of(HttpServerExchange exchange, NodeConfig config) {
    return of(exchange, Math.min(config.conflationIntervalMaxMs(), config.heartbeatMs()));
  }

  static long of(HttpServerExchange exchange, long maxMs) {
    String v = Params.query(exchange, Params.CONFLATION_INTERVAL_MS);
    if (v == null) {
      return 0;
    }
    long ms = -1;
    if (!v.isEmpty() && v.length() <= 18 && v.chars().allMatch(Character::isDigit)) {
      ms = Long.parseLong(v);
    }
    if (ms < 0 || ms > maxMs) {
      throw HttpError.badRequest(
          Params.CONFLATION_INTERVAL_MS + " must be an integer from 0 to " + maxMs + ": " + v);
    }
    return ms;
  }
}
