/* SHA-256 against the FIPS 180-4 examples and, for a file, against sha256sum. */
#include <unistd.h>

#include "common/sha256.h"
#include "harness.h"

static void hash(const char *msg, size_t n, char hex[65]) {
    m3ae_sha256 s;
    m3ae_sha256_init(&s);
    m3ae_sha256_update(&s, msg, n);
    m3ae_sha256_final(&s, hex);
}

int main(void) {
    char hex[65];
    hash("abc", 3, hex);
    T_CHECK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "abc: %s", hex);
    hash("", 0, hex);
    T_CHECK(!strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), "empty: %s", hex);
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    hash(two, strlen(two), hex);
    T_CHECK(!strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"), "448 bits: %s", hex);
    char path[] = "/tmp/m3ae-sha-XXXXXX", cmd[256], want[80] = "";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    for (int i = 0; i < 100000; i++) fprintf(f, "line %d\n", i);
    fclose(f);
    T_CHECK(m3ae_sha256_file(path, hex) == 0, "hash file");
    snprintf(cmd, sizeof cmd, "sha256sum %s", path);
    FILE *p = popen(cmd, "r");
    if (p) {
        T_CHECK(fscanf(p, "%64s", want) == 1, "sha256sum output");
        pclose(p);
    }
    T_CHECK(!strcmp(hex, want), "file: %s vs sha256sum %s", hex, want);
    unlink(path);
    return t_done("test_sha256");
}
