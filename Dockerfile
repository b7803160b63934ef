# walletgate: a static binary on a distroless base, running as a non-root user, the ledger on a volume.
#   docker build -t walletgate .
#   docker run -p 8080:8080 -p 127.0.0.1:9090:9090 -v walletgate-data:/data \
#     -e WALLETGATE_MAC_KEY_FILE=/run/secrets/mac_key -e WALLETGATE_ADMIN_TOKEN=... walletgate
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/walletgate ./cmd/walletgate \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/walletgate /walletgate
# The ledger lives on the volume; the directory belongs to the nonroot user (uid 65532) so bbolt can create it.
COPY --from=build --chown=65532:65532 /out/data /data
VOLUME ["/data"]
ENV WALLETGATE_DB=/data/walletgate.db \
    WALLETGATE_LISTEN=:8080 \
    WALLETGATE_OPS_LISTEN=:9090
# 8080: the card switch. 9090: health, metrics and the admin API: publish it on a private interface only.
EXPOSE 8080 9090
USER 65532:65532
ENTRYPOINT ["/walletgate"]
CMD ["serve"]
