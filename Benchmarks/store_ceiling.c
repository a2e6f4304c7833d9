/*
 * store_ceiling: how fast MariaDB takes result rows through Connector/C alone,
 * the anchor for the result writer's benchmark. Three ways, same rows, same
 * table (test_results, created by `waddleperf-bench writer`'s migration):
 *
 *   rowwise   one INSERT per row, autocommit (for SECONDS at most)
 *   multirow  INSERT ... VALUES (...),(...) with 1000 rows per statement
 *   bulk      a prepared INSERT with column-wise array binding
 *             (STMT_ATTR_ARRAY_SIZE), BATCH rows per execute, of the columns
 *             that hold a value (as the writer binds them)
 *
 * multirow and bulk commit once per BATCH rows; rowwise commits every row.
 * series_id is bound as the writer's series resolution gives it for these rows
 * (one series per target, 1,000 of them), so both insert into the same indexes alike.
 * Prints one JSON line.
 *
 *   store_ceiling HOST PORT USER DATABASE MODE ROWS [BATCH] [SECONDS]
 */
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COLUMNS 31
static const char *column_list =
    "created_at, received_at, source, test_type, protocol_detail, target, resolved_address, outcome, success, sent, received, "
    "loss_percent, latency_ms, min_ms, max_ms, p50_ms, p99_ms, jitter_ms, stddev_ms, throughput_mbps, dns_ms, connect_ms, "
    "tls_ms, ttfb_ms, transfer_ms, total_ms, device_id, user_id, ou_id, raw_json, series_id";

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(MYSQL *m, const char *what) {
    fprintf(stderr, "%s: %s\n", what, mysql_error(m));
    exit(1);
}

/* The row the Swift benchmark writes for index i (see ControlBench/main.swift). */
static void row_text(char *out, size_t size, long i, long long ts) {
    double lat = 0.2 + (i % 100) * 0.01;
    snprintf(out, size,
             "(%lld,%lld,'client','icmp','','host-%ld.example','192.0.2.%ld','success',1,10,10,0,%.3f,%.3f,%.3f,%.3f,%.3f,"
             "0.01,0.02,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,1,NULL,NULL,%ld)",
             ts, ts, i % 1000, i % 250, lat, lat - 0.05, lat + 0.1, lat, lat + 0.08, i % 1000 + 1);
}

static void run_sql_rows(MYSQL *m, long rows, long per_statement, long batch, double seconds, long *done) {
    size_t cap = (size_t)per_statement * 400 + 1024;
    char *sql = malloc(cap), row[400];
    long long ts = (long long)time(NULL) * 1000;
    long i = 0;
    double start = now();
    while (i < rows && (seconds <= 0 || now() - start < seconds)) {
        if (per_statement > 1 && mysql_query(m, "START TRANSACTION")) die(m, "begin");
        long in_batch = 0;
        while (in_batch < batch && i < rows) {
            size_t len = (size_t)snprintf(sql, cap, "INSERT INTO test_results (%s) VALUES ", column_list);
            long n = 0;
            for (; n < per_statement && i < rows && in_batch < batch; n++, i++, in_batch++) {
                row_text(row, sizeof row, i, ts);
                len += (size_t)snprintf(sql + len, cap - len, "%s%s", n ? "," : "", row);
            }
            if (mysql_real_query(m, sql, len)) die(m, "insert");
            if (per_statement == 1 && seconds > 0 && now() - start >= seconds) break;
        }
        if (per_statement > 1 && mysql_query(m, "COMMIT")) die(m, "commit");
    }
    *done = i;
    free(sql);
}

static void run_bulk(MYSQL *m, long rows, long batch, long *done) {
    /* 0: int, 1: double, 2: string, 3: always NULL */
    static const int kind[COLUMNS] = {0, 0, 2, 2, 2, 2, 2, 2, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3, 0, 3, 3, 0};
    /* Columns NULL in every row are left out of the statement, as the writer does. */
    char names[1024], sql[2048];
    snprintf(names, sizeof names, "%s", column_list);
    char *name[COLUMNS];
    int count = 0;
    for (char *tok = strtok(names, ", "); tok && count < COLUMNS; tok = strtok(NULL, ", ")) name[count++] = tok;
    size_t len = (size_t)snprintf(sql, sizeof sql, "INSERT INTO test_results (");
    int bound = 0;
    for (int c = 0; c < COLUMNS; c++)
        if (kind[c] != 3) len += (size_t)snprintf(sql + len, sizeof sql - len, "%s%s", bound++ ? ", " : "", name[c]);
    len += (size_t)snprintf(sql + len, sizeof sql - len, ") VALUES (");
    for (int c = 0; c < bound; c++) len += (size_t)snprintf(sql + len, sizeof sql - len, "%s?", c ? "," : "");
    snprintf(sql + len, sizeof sql - len, ")");
    MYSQL_STMT *stmt = mysql_stmt_init(m);
    if (mysql_stmt_prepare(stmt, sql, strlen(sql))) die(m, "prepare");

    /* Column-wise arrays, one element per row of the batch. */
    long long *ints[COLUMNS] = {0};
    double *dbls[COLUMNS] = {0};
    char **strs[COLUMNS] = {0};
    unsigned long *lens[COLUMNS] = {0};
    char *ind[COLUMNS];
    char *text = malloc((size_t)batch * 64);
    MYSQL_BIND bind[COLUMNS];
    memset(bind, 0, sizeof bind);
    for (int c = 0; c < COLUMNS; c++) {
        ind[c] = calloc((size_t)batch, 1);
        switch (kind[c]) {
        case 0: ints[c] = calloc((size_t)batch, sizeof(long long)); bind[c].buffer_type = MYSQL_TYPE_LONGLONG; bind[c].buffer = ints[c]; break;
        case 1: dbls[c] = calloc((size_t)batch, sizeof(double)); bind[c].buffer_type = MYSQL_TYPE_DOUBLE; bind[c].buffer = dbls[c]; break;
        case 2:
            strs[c] = calloc((size_t)batch, sizeof(char *)); lens[c] = calloc((size_t)batch, sizeof(unsigned long));
            bind[c].buffer_type = MYSQL_TYPE_STRING; bind[c].buffer = strs[c]; bind[c].length = lens[c]; break;
        default: bind[c].buffer_type = MYSQL_TYPE_NULL; memset(ind[c], STMT_INDICATOR_NULL, (size_t)batch); break;
        }
        bind[c].u.indicator = ind[c];
    }
    long long ts = (long long)time(NULL) * 1000;
    long i = 0;
    while (i < rows) {
        unsigned int n = 0;
        for (; n < batch && i < rows; n++, i++) {
            double lat = 0.2 + (i % 100) * 0.01;
            ints[0][n] = ts; ints[1][n] = ts; ints[8][n] = 1; ints[9][n] = 10; ints[10][n] = 10; ints[27][n] = 1; ints[30][n] = i % 1000 + 1;
            dbls[11][n] = 0; dbls[12][n] = lat; dbls[13][n] = lat - 0.05; dbls[14][n] = lat + 0.1; dbls[15][n] = lat;
            dbls[16][n] = lat + 0.08; dbls[17][n] = 0.01; dbls[18][n] = 0.02;
            char *target = text + (size_t)n * 64;
            int tl = snprintf(target, 32, "host-%ld.example", i % 1000);
            char *addr = target + 32;
            int al = snprintf(addr, 32, "192.0.2.%ld", i % 250);
            strs[2][n] = "client"; lens[2][n] = 6; strs[3][n] = "icmp"; lens[3][n] = 4; strs[4][n] = ""; lens[4][n] = 0;
            strs[5][n] = target; lens[5][n] = (unsigned long)tl; strs[6][n] = addr; lens[6][n] = (unsigned long)al;
            strs[7][n] = "success"; lens[7][n] = 7;
        }
        if (mysql_query(m, "START TRANSACTION")) die(m, "begin");
        if (mysql_stmt_attr_set(stmt, STMT_ATTR_ARRAY_SIZE, &n)) die(m, "array size");
        MYSQL_BIND present[COLUMNS];
        for (int c = 0, k = 0; c < COLUMNS; c++) if (kind[c] != 3) present[k++] = bind[c];
        if (mysql_stmt_bind_param(stmt, present)) die(m, "bind");
        if (mysql_stmt_execute(stmt)) { fprintf(stderr, "execute: %s\n", mysql_stmt_error(stmt)); exit(1); }
        if (mysql_query(m, "COMMIT")) die(m, "commit");
    }
    *done = i;
    mysql_stmt_close(stmt);
}

int main(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: %s HOST PORT USER DATABASE rowwise|multirow|bulk ROWS [BATCH] [SECONDS]\n", argv[0]);
        return 2;
    }
    const char *mode = argv[5];
    long rows = atol(argv[6]), batch = argc > 7 ? atol(argv[7]) : 5000;
    double seconds = argc > 8 ? atof(argv[8]) : 0;
    MYSQL *m = mysql_init(NULL);
    if (!mysql_real_connect(m, argv[1], argv[3], NULL, argv[4], (unsigned)atoi(argv[2]), NULL, 0)) die(m, "connect");
    if (mysql_query(m, "TRUNCATE TABLE test_results")) die(m, "truncate");
    long done = 0;
    double start = now();
    if (!strcmp(mode, "rowwise")) run_sql_rows(m, rows, 1, 1, seconds, &done);
    else if (!strcmp(mode, "multirow")) run_sql_rows(m, rows, 1000, batch, 0, &done);
    else if (!strcmp(mode, "bulk")) run_bulk(m, rows, batch, &done);
    else { fprintf(stderr, "unknown mode %s\n", mode); return 2; }
    double elapsed = now() - start;
    printf("{\"mode\":\"%s\",\"rows\":%ld,\"seconds\":%.3f,\"rows_per_second\":%.0f}\n", mode, done, elapsed, done / elapsed);
    mysql_close(m);
    return 0;
}
