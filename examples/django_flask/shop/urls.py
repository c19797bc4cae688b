from django.contrib import admin
from django.urls import include, path

from orders import views

urlpatterns = [
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", views.LogoutView.as_view(), name="logout"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("orders/", views.order_list, name="orders"),
    path("orders/<int:pk>/checkout/", views.checkout, name="checkout"),
]
