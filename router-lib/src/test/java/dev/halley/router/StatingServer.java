package dev.halley.router;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;

/**
 * A real HTTP server standing in for a node whose publish reply states only the first user of each
 * message (what the old node answered for a duplicate key), for tests of outcome reading.
 */
final class StatingServer implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();
  private final HttpServer server;
  private volatile JsonNode lastBody;

  StatingServer() throws IOException {
    server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.createContext(
        "/v1/publish",
        exchange -> {
          JsonNode body = JSON.readTree(exchange.getRequestBody());
          lastBody = body;
          StringBuilder results = new StringBuilder();
          for (JsonNode m : body.get("messages")) {
            if (results.length() > 0) {
              results.append(',');
            }
            results
                .append("{\"id\":")
                .append(JSON.writeValueAsString(m.get("id").asText()))
                .append(",\"status\":\"duplicate\",\"connections\":1,\"delivered\":[")
                .append(JSON.writeValueAsString(m.get("users").get(0).asText()))
                .append("],\"buffered\":[],\"misdirected\":[]}");
          }
          byte[] reply =
              ("{\"node\":\"s\",\"mapVersion\":1,\"results\":[" + results + "]}")
                  .getBytes(StandardCharsets.UTF_8);
          exchange.getResponseHeaders().add("Content-Type", "application/json");
          exchange.sendResponseHeaders(200, reply.length);
          exchange.getResponseBody().write(reply);
          exchange.close();
        });
    server.start();
  }

  URI url() {
    return URI.create("http://127.0.0.1:" + server.getAddress().getPort());
  }

  JsonNode lastBody() {
    return lastBody;
  }

  @Override
  public void close() {
    server.stop(0);
  }
}
