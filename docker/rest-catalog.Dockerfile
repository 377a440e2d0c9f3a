# The compose stack's Iceberg REST catalog: the same server the tests run
# (tests/support/rest-catalog: Apache Iceberg's REST adapter and servlet over its JdbcCatalog,
# in Jetty), here backed by PostgreSQL and S3FileIO. Build context: the repository root.
# For production, any REST catalog (Polaris, Lakekeeper, Nessie, Unity, Glue) takes its place:
# the jobs only need its URL.
ARG MAVEN_IMAGE=maven:3.9-eclipse-temurin-17
ARG JRE_IMAGE=eclipse-temurin:17-jre

FROM ${MAVEN_IMAGE} AS build
WORKDIR /build
COPY tests/support/rest-catalog/ ./
RUN mvn -q -B dependency:copy-dependencies -DoutputDirectory=/opt/rest-catalog/lib \
 && mkdir -p /opt/rest-catalog/classes \
 && javac -nowarn -cp '/opt/rest-catalog/lib/*' -d /opt/rest-catalog/classes RestCatalogServer.java

FROM ${JRE_IMAGE}
COPY --from=build /opt/rest-catalog /opt/rest-catalog
RUN groupadd --gid 10002 catalog && useradd --uid 10002 --gid 10002 --no-create-home catalog
USER 10002:10002
ENV REST_CATALOG_BIND=0.0.0.0
EXPOSE 8181
# catalog properties as arguments: the JDBC URI, the warehouse, then key=value pairs
ENTRYPOINT ["java", "-Xmx512m", "-cp", "/opt/rest-catalog/lib/*:/opt/rest-catalog/classes", "RestCatalogServer"]
