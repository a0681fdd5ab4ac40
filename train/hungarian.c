/* hungarian.c — square assignment problem by the shortest augmenting path form of the Hungarian
 * algorithm with row/column potentials (O(n^3)). Same optimum as scipy's linear_sum_assignment. */
#include "train/hungarian.h"

#include <float.h>
#include <string.h>

double ovs_hungarian(const double *cost, int n, int *perm) {
    enum { MAXN = 65 };
    double u[MAXN], v[MAXN], minv[MAXN];
    int p[MAXN], way[MAXN], used[MAXN];
    /* 1-based: p[j] = row matched to column j (0 = none); column 0 is the virtual start */
    memset(u, 0, sizeof u);
    memset(v, 0, sizeof v);
    memset(p, 0, sizeof p);
    memset(way, 0, sizeof way);
    for (int i = 1; i <= n; i++) {
        p[0] = i;
        int j0 = 0;
        for (int j = 0; j <= n; j++) minv[j] = DBL_MAX, used[j] = 0;
        do {
            used[j0] = 1;
            int i0 = p[j0], j1 = 0;
            double delta = DBL_MAX;
            for (int j = 1; j <= n; j++) {
                if (used[j]) continue;
                double cur = cost[(i0 - 1) * n + (j - 1)] - u[i0] - v[j];
                if (cur < minv[j]) minv[j] = cur, way[j] = j0;
                if (minv[j] < delta) delta = minv[j], j1 = j;
            }
            for (int j = 0; j <= n; j++) {
                if (used[j]) u[p[j]] += delta, v[j] -= delta;
                else minv[j] -= delta;
            }
            j0 = j1;
        } while (p[j0] != 0);
        do { /* flip the augmenting path */
            int j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
        } while (j0);
    }
    double total = 0;
    for (int j = 1; j <= n; j++) {
        perm[p[j] - 1] = j - 1;
        total += cost[(p[j] - 1) * n + (j - 1)];
    }
    return total;
}
