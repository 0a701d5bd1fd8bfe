# InferGate's image: built on Debian 12 with the project's own dependency script, run from a
# distroless-like stage holding only the binary, the shared libraries it links (found with ldd
# and copied from Debian's packages), the resolver's NSS modules, CA certificates and a non-root
# user. No Docker engine runs on the development machines; docs/kubernetes.md says how this
# file is checked.
#
#   docker build -t infergate .
#   docker run --rm -p 8080:8080 infergate --config /etc/infergate/infergate.yaml ...

FROM debian:bookworm AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DINFERGATE_BUILD_TESTS=OFF \
      -DINFERGATE_BUILD_BENCH=OFF \
 && cmake --build build --target infergate infergate-sim \
 && strip --strip-debug build/bin/infergate build/bin/infergate-sim

# The runtime file system: the binaries' libraries, the dynamic loader, what getaddrinfo loads,
# CA certificates (model servers over TLS), and an unprivileged user.
RUN set -eu; mkdir -p /rootfs/etc /rootfs/usr/bin /rootfs/tmp; \
    for bin in build/bin/infergate build/bin/infergate-sim; do \
      ldd "$bin" | awk '/=> \//{print $3} /^\t\/lib/{print $1}' ; \
    done | sort -u | xargs -I{} cp --parents -L {} /rootfs; \
    for lib in /lib/x86_64-linux-gnu/libnss_dns.so.2 /lib/x86_64-linux-gnu/libnss_files.so.2 \
               /lib/x86_64-linux-gnu/libresolv.so.2; do cp --parents -L "$lib" /rootfs; done; \
    cp --parents -L /etc/ssl/certs/ca-certificates.crt /rootfs; \
    printf 'hosts: files dns\n' > /rootfs/etc/nsswitch.conf; \
    printf 'root:x:0:0::/:/sbin/nologin\nnonroot:x:65532:65532::/:/sbin/nologin\n' > /rootfs/etc/passwd; \
    printf 'root:x:0:\nnonroot:x:65532:\n' > /rootfs/etc/group; \
    chmod 1777 /rootfs/tmp; \
    cp build/bin/infergate build/bin/infergate-sim /rootfs/usr/bin/

FROM scratch
COPY --from=build /rootfs /
USER 65532:65532
EXPOSE 8080 9002 9003 9090
ENTRYPOINT ["/usr/bin/infergate"]
CMD ["--help"]
