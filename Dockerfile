# blink-consent: a static binary on a minimal, non-root image.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# .git is not copied in (.dockerignore), so the version and commit come from the
# build: docker build --build-arg VERSION=$(git describe --tags --always) --build-arg COMMIT=$(git rev-parse HEAD) .
# No -tags devstack: the image carries no `dev` command, no throwaway
# PostgreSQL, Hydra or Blink core stand-in.
ARG VERSION=dev
ARG COMMIT=unknown
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" -o /out/blink-consent ./cmd/blink-consent

# distroless/static has CA certificates and tzdata, no shell, and runs as
# nonroot (uid 65532) by default.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/blink-consent /usr/local/bin/blink-consent
USER nonroot:nonroot
EXPOSE 3000 9090
ENTRYPOINT ["/usr/local/bin/blink-consent"]
CMD ["serve"]
