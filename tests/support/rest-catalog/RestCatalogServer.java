// An Iceberg REST catalog server made of Apache Iceberg's own parts: the REST protocol
// adapter and servlet that Iceberg's REST specification tests run against (iceberg-core's
// test jar), over Iceberg's JdbcCatalog (SQLite or PostgreSQL) and ResolvingFileIO (local
// files through Hadoop, s3:// through S3FileIO), served by Jetty on 127.0.0.1 (or on the
// address in REST_CATALOG_BIND, e.g. 0.0.0.0 in a container).
//
//   java -cp 'lib/*:classes' RestCatalogServer PORT JDBC_URI WAREHOUSE [key=value ...]
//
// Extra key=value pairs are catalog properties (jdbc.user, s3.endpoint, ...). Commits are
// checked by the catalog (the request's requirements against the current metadata, then the
// JDBC pointer swap), so a lost race answers 409 as every REST catalog does.
import java.net.InetSocketAddress;
import java.util.HashMap;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.iceberg.CatalogProperties;
import org.apache.iceberg.CatalogUtil;
import org.apache.iceberg.catalog.Catalog;
import org.apache.iceberg.rest.RESTCatalogAdapter;
import org.apache.iceberg.rest.RESTCatalogServlet;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.servlet.ServletContextHandler;
import org.eclipse.jetty.servlet.ServletHolder;

public class RestCatalogServer {
  public static void main(String[] args) throws Exception {
    if (args.length < 3) {
      System.err.println("usage: RestCatalogServer PORT JDBC_URI WAREHOUSE [key=value ...]");
      System.exit(2);
    }
    int port = Integer.parseInt(args[0]);
    Map<String, String> props = new HashMap<>();
    props.put(CatalogProperties.CATALOG_IMPL, "org.apache.iceberg.jdbc.JdbcCatalog");
    props.put(CatalogProperties.URI, args[1]);
    props.put(CatalogProperties.WAREHOUSE_LOCATION, args[2]);
    props.put(CatalogProperties.FILE_IO_IMPL, "org.apache.iceberg.io.ResolvingFileIO");
    props.put("jdbc.schema-version", "V1");
    for (int i = 3; i < args.length; i++) {
      int eq = args[i].indexOf('=');
      if (eq <= 0) {
        System.err.println("not key=value: " + args[i]);
        System.exit(2);
      }
      props.put(args[i].substring(0, eq), args[i].substring(eq + 1));
    }
    Catalog catalog = CatalogUtil.buildIcebergCatalog("rest_backend", props, new Configuration());

    ServletContextHandler context = new ServletContextHandler(ServletContextHandler.NO_SESSIONS);
    context.setContextPath("/");
    context.addServlet(new ServletHolder(new RESTCatalogServlet(new RESTCatalogAdapter(catalog))), "/*");
    String bind = System.getenv().getOrDefault("REST_CATALOG_BIND", "127.0.0.1");
    Server server = new Server(new InetSocketAddress(bind, port));
    server.setHandler(context);
    server.setStopAtShutdown(true);
    server.start();
    System.out.println("REST catalog listening on http://" + bind + ":" + port);
    System.out.flush();
    server.join();
  }
}
