package dev.halley.node.publish;

import dev.halley.node.cluster.NodeContext;
import dev.halley.node.http.BodyReader;
import dev.halley.node.wire.HttpError;
import dev.halley.node.wire.Json;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import java.util.List;

/**
 * {@code POST /v1/publish}: reads the body without blocking (413 over {@code maxBodyBytes}),
 * validates the whole batch first ({@link PublishBody}: 400 {@code invalid_json}, {@code
 * invalid_field}, {@code unknown_field}; 413 {@code message_too_large}, {@code
 * too_many_recipients}), then hands it to the {@link FanOut} and replies with each message's
 * outcome.
 */
public final class PublishHandler implements HttpHandler {
  private final NodeContext node;
  private final FanOut fanOut;

  private final java.util.concurrent.Executor publishThreads;

  /** {@code publishThreads}: where requests are parsed and published (not an IO thread). */
  public PublishHandler(
      NodeContext node, FanOut fanOut, java.util.concurrent.Executor publishThreads) {
    this.node = node;
    this.fanOut = fanOut;
    this.publishThreads = publishThreads;
  }

  @Override
  public void handleRequest(HttpServerExchange exchange) {
    BodyReader.read(
        exchange,
        node.config.maxBodyBytes(),
        body ->
            // Issue 11 item 7: parsing, ownership and fan-out run on the publish threads, never
            // on an IO thread that also serves browsers.
            exchange.dispatch(
                publishThreads,
                () -> {
                  try {
                    RawJson.requireUtf8(body);
                    List<FanOut.Item> items =
                        PublishBody.parse(
                            body,
                            node.config.maxMessageBytes(),
                            node.config.maxRecipientsPerRequest());
                    PublishReply reply = fanOut.reply(items);
                    int[] counts = reply.acceptedCounts();
                    node.ops.published(counts[0], counts[1], counts[2]);
                    reply.send(exchange);
                  } catch (HttpError e) {
                    Json.sendError(exchange, e);
                  }
                }));
  }

  @Override
  public String toString() {
    return "PublishHandler(POST /v1/publish)";
  }
}
